"""The demo: the whole pipeline on a small real corpus shipped with the package.

The corpus (``corpus/``) is real text: GNU/Debian license texts and the translated help texts of
bash, coreutils, wget and tar in 13 languages, with re-posted duplicates, junk pages, a JSONL
line of the wrong schema, one of invalid UTF-8 and an empty file. ``tools/make_demo_corpus.py``
rebuilds it.
"""
from __future__ import annotations

import pathlib

import yaml

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"


def demo_config(directory: str | pathlib.Path) -> dict:
    directory = pathlib.Path(directory).resolve()
    return {
        "lake": {"root": str(directory / "lake")},
        "engine": {"kind": "sail", "partitions": 2},
        "table_format": "delta",
        "sources": [
            {"name": "web", "uri": str(CORPUS / "web"), "format": "jsonl"},
            {"name": "licenses", "uri": str(CORPUS / "docs"), "format": "text"},
        ],
        "quality": {"min_chars": 50, "min_words": 5},
        "tokenizer": {"name": "demo-bpe", "vocab_size": 2048, "sample_max_chars": 5_000_000},
        "pack": {"dataset": "demo", "shard_bytes": 262_144},
    }


def write_demo_config(directory: str | pathlib.Path) -> pathlib.Path:
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "demo.yaml"
    path.write_text("# written by `tokenlake demo`; re-run with: tokenlake run " + str(path) + "\n"
                    + yaml.safe_dump(demo_config(directory), sort_keys=False), encoding="utf-8")
    return path
