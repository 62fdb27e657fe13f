"""Splitting long texts before encoding must not change the ids."""
import random

from tokenlake.stages.tokenize import encode_ids, split_for_encoding
from tokenlake.tokenizer import artifact, train_byte_level_bpe

CORPUS = ["The quick brown fox jumps over the lazy dog.  Twice, even!\n\tTabs and   spaces.",
          "Der schnelle braune Fuchs springt über den faulen Hund. 敏捷的棕色狐狸跳过了懒狗。",
          "Emoji 🙂🙃 and combining e\u0301 marks, control\x07chars."] * 50


def tokenizer():
    return artifact(train_byte_level_bpe(iter(CORPUS), 600, ["<|endoftext|>"], 1), "<|endoftext|>")


def test_split_preserves_text_and_ids():
    art = tokenizer()
    tok = art.build()
    rng = random.Random(0)
    words = ["alpha", "beta,", "γάμμα", "δέλτα.", "\n", "  ", "\t", "🙂", "e\u0301", "1234", "中文"]
    text = "".join(rng.choice(words) + rng.choice([" ", "", "  ", "\n"]) for _ in range(20_000))
    pieces = split_for_encoding(text, 1000)
    assert len(pieces) > 10
    assert "".join(pieces) == text
    assert encode_ids(art.encoder(), text, 1000) == tok.encode(text, add_special_tokens=False).ids


def test_training_is_deterministic():
    assert tokenizer().sha256 == tokenizer().sha256


# --- every tokenizer kind through the stage: ids equal a direct encode of the same text plus EOS ---

import base64  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tokenlake import ids as _ids  # noqa: E402
from tokenlake.config import from_dict  # noqa: E402
from tokenlake.demo import CORPUS as DEMO, demo_config  # noqa: E402
from tokenlake.pipeline import run_pipeline  # noqa: E402
from tokenlake.schemas_registry import spec  # noqa: E402
from tokenlake.tokenizer import DEFAULT_TIKTOKEN_PATTERN, tiktoken_encoding, train_sentencepiece_bpe  # noqa: E402

EOS = "<|endoftext|>"


def hard_texts() -> list[str]:
    """CJK, emoji, combining marks, control characters, and a multi-megabyte document of real text."""
    licenses = [p.read_text(encoding="utf-8") for p in sorted((DEMO / "docs").glob("*.txt"))]
    big = "\n\n".join(licenses * 8)
    assert len(big.encode()) > 2_000_000
    return CORPUS[:3] + ["人人生而自由，在尊严和权利上一律平等。すべての人間は、生まれながらにして自由である。",
                         "👩🏽‍💻 zwj 🇩🇪 flags \u200b zero-width, e\u0301\u0302 stacked, \x00\x01\x1b[0m controls",
                         big]


def write_gold(lake, texts):
    rows = []
    for i, t in enumerate(texts):
        r = {c: None for c in spec("gold/documents").names}
        r.update(doc_id=_ids.doc_id("t", f"d{i}", 0), source="t", text=t, n_chars=len(t), n_words=1, n_lines=1,
                 lang_score=1.0, quality_score=1.0, pii_counts={}, signals={}, text_hash=str(i),
                 cluster_id=_ids.doc_id("t", f"d{i}", 0), cluster_size=1)
        rows.append(r)
    lake.write(lake.spark.createDataFrame(rows, spec("gold/documents").spark_schema), "gold/documents", mode="overwrite")
    return {r["doc_id"]: r["text"] for r in rows}


def stage_ids(engine, lake, path: str) -> dict[str, list[int]]:
    data = demo_config(pathlib.Path(lake.root).parent)
    data["lake"]["root"] = lake.root
    data["tokenizer"].update(mode="load", path=path, eos=EOS, special_tokens=[EOS])
    run_pipeline(from_dict(data), stages=["tokenizer", "tokenize"], engine=engine, quiet=True, force=True)
    return {r["doc_id"]: list(r["input_ids"]) for r in lake.read("gold/tokens").collect()}


@pytest.fixture()
def gold(lake):
    return write_gold(lake, hard_texts())


def test_hf_json_through_the_stage(engine, lake, gold, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(train_byte_level_bpe(iter(CORPUS + hard_texts()[3:5]), 600, [EOS], 1))
    tok = artifact(path.read_text(), EOS).build()
    got = stage_ids(engine, lake, str(path))
    eos = tok.token_to_id(EOS)
    assert got == {d: tok.encode(t, add_special_tokens=False).ids + [eos] for d, t in gold.items()}


def test_sentencepiece_trained_and_loaded_through_the_stage(engine, lake, gold, tmp_path):
    import sentencepiece as spm

    texts = CORPUS + hard_texts()[3:5] + [p.read_text() for p in sorted((DEMO / "docs").glob("*.txt"))]
    model = train_sentencepiece_bpe(iter(texts), 800, [EOS])
    assert model == train_sentencepiece_bpe(iter(texts), 800, [EOS])  # deterministic bytes
    sp = spm.SentencePieceProcessor(model_proto=model)
    assert sp.piece_to_id("<0xF0>") > 0  # byte fallback pieces exist
    path = tmp_path / "sp.model"
    path.write_bytes(model)
    got = stage_ids(engine, lake, str(path))
    eos = sp.piece_to_id(EOS)
    assert got == {d: sp.encode(t) + [eos] for d, t in gold.items()}


def test_tiktoken_file_through_the_stage(engine, lake, gold, tmp_path):
    from tiktoken._educational import bpe_train

    ranks = bpe_train(" ".join(CORPUS[:60]), 300, DEFAULT_TIKTOKEN_PATTERN, visualise=None)
    path = tmp_path / "t.tiktoken"
    path.write_bytes(b"".join(base64.b64encode(tok) + b" %d\n" % rank for tok, rank in sorted(ranks.items(),
                                                                                              key=lambda x: x[1])))
    enc = tiktoken_encoding(path.read_bytes(), None, {EOS: max(ranks.values()) + 1})
    got = stage_ids(engine, lake, str(path))
    assert got == {d: enc.encode_ordinary(t) + [max(ranks.values()) + 1] for d, t in gold.items()}
    assert lake.read("gold/tokens").filter(F.col("n_tokens") > 100_000).count() == 1  # the multi-MB document
