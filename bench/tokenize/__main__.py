"""Tokenization throughput and tokenizer training cost, measured in one run on real text.

1. Tokens per second per core through the tokenize stage (gold/documents -> gold/tokens, default
   engine) next to ``Tokenizer.encode_batch`` in a plain loop over the same documents on one core;
   the ratio (goal >= 0.8).
2. Training a 32k byte-level BPE (and SentencePiece BPE) on >= 50 MB of real text, streamed: wall
   time and the peak resident memory of the training process (a child process, so nothing else
   counts).

Text: licenses, copyright files and READMEs under /usr/share/doc and the text files inside the
installed Python packages (see bench/quality.py); training adds the main text of the HTML pages
under /usr/share/doc (Debian's python3.11-doc, installed here when missing, brings ~20 MB).

    .venv/bin/python bench/tokenize [--train-mb 50] [--docs 4000] [--skip-sentencepiece]

(A directory, so that the script's folder on sys.path does not shadow the standard library's
``tokenize`` module.)
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "lib"))
sys.path.append(str(pathlib.Path(__file__).resolve().parents[1]))  # bench/, for quality.documents

TRAIN_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from tokenlake.tokenizer import train_byte_level_bpe, train_sentencepiece_bpe
def texts():
    with open(sys.argv[1], encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)
t = time.perf_counter()
if sys.argv[2] == "sentencepiece":
    out = train_sentencepiece_bpe(texts(), 32000, ["<|endoftext|>"])
else:
    out = train_byte_level_bpe(texts(), 32000, ["<|endoftext|>"], 2)
seconds = time.perf_counter() - t
# VmHWM: the peak RSS of this process image. (getrusage's ru_maxrss survives fork+exec on Linux, so
# it would report the parent's size when that was larger.)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_mb": hwm / 1024}))
"""


def train(kind: str, corpus: pathlib.Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of training in a fresh child process (its own VmHWM)."""
    out = subprocess.run([sys.executable, "-c", TRAIN_CHILD, str(corpus), kind,
                          str(pathlib.Path(__file__).resolve().parents[2] / "lib")],
                         check=True, capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    return res["seconds"], res["peak_mb"]


def stage_vs_loop(texts: list[str], cores: int) -> tuple[float, float, int]:
    from tokenizers import Tokenizer

    from tokenlake import ids
    from tokenlake.config import from_dict
    from tokenlake.demo import demo_config
    from tokenlake.engine import start_engine
    from tokenlake.pipeline import run_pipeline
    from tokenlake.schemas_registry import spec
    from tokenlake.tables import Lake
    from tokenlake.tokenizer import load_latest

    with tempfile.TemporaryDirectory() as tmp:
        data = demo_config(pathlib.Path(tmp))
        data["engine"]["partitions"] = cores
        cfg = from_dict(data)
        eng = start_engine(cfg)
        try:
            lake = Lake(eng.spark, cfg.lake.root, cfg.table_format)
            rows = []
            for i, t in enumerate(texts):
                r = {c: None for c in spec("gold/documents").names}
                did = ids.doc_id("b", f"d{i}", 0)
                r.update(doc_id=did, source="b", text=t, n_chars=len(t), n_words=0, n_lines=0, lang_score=1.0,
                         quality_score=1.0, pii_counts={}, signals={}, text_hash=did, cluster_id=did, cluster_size=1)
                rows.append(r)
            import pyarrow as pa
            import pyarrow.parquet as pq

            path = pathlib.Path(tmp) / "gold.parquet"
            pq.write_table(pa.Table.from_pylist(rows, spec("gold/documents").arrow_schema), path)
            lake.write(eng.spark.read.parquet(str(path)), "gold/documents", mode="overwrite")
            run_pipeline(cfg, engine=eng, quiet=True, stages=["tokenizer"])
            t = time.perf_counter()
            run_pipeline(cfg, engine=eng, quiet=True, stages=["tokenize"])
            t_stage = time.perf_counter() - t
            n_tokens = lake.read("gold/tokens").agg({"n_tokens": "sum"}).first()[0]
            art = load_latest(cfg.lake.root, cfg.tokenizer.name, cfg.tokenizer.eos)
        finally:
            eng.stop()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    tok = Tokenizer.from_str(art.json_text)
    t = time.perf_counter()
    for i in range(0, len(texts), 256):
        tok.encode_batch(texts[i:i + 256], add_special_tokens=False)
    return t_stage, time.perf_counter() - t, int(n_tokens)


def main() -> None:
    from quality import documents

    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=4000, help="documents for the stage vs loop comparison")
    ap.add_argument("--train-mb", type=float, default=50)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-sentencepiece", action="store_true")
    args = ap.parse_args()
    texts = documents(args.docs, 200_000)
    t_stage, t_loop, n_tok = stage_vs_loop(texts, args.cores)
    stage_rate, loop_rate = n_tok / t_stage / args.cores, n_tok / t_loop
    print(f"{len(texts)} documents, {n_tok} tokens")
    print(f"encode_batch loop (1 core):         {loop_rate:12.0f} tokens/s")
    print(f"tokenize stage ({args.cores} cores, Sail):   {stage_rate:12.0f} tokens/s/core  ({t_stage:.1f}s)")
    print(f"ratio stage/plain per core: {stage_rate / loop_rate:.2f}  (goal >= 0.8)")
    from ingest import ensure_packages  # bench/ingest.py: python3.11-doc's HTML adds real text

    ensure_packages()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = pathlib.Path(tmp) / "train.jsonl"
        size = 0
        with open(corpus, "w", encoding="utf-8") as fh:
            for t in documents(10 ** 9, 2_000_000, html=True):
                fh.write(json.dumps(t) + "\n")
                size += len(t.encode())
                if size >= args.train_mb * 1e6:
                    break
        if size < args.train_mb * 1e6:
            sys.exit(f"only {size / 1e6:.1f} MB of text found, need {args.train_mb}")
        for kind in ["byte_level_bpe"] + ([] if args.skip_sentencepiece else ["sentencepiece"]):
            seconds, peak = train(kind, corpus)
            print(f"train {kind:<15} 32k vocab on {size / 1e6:.0f} MB: {seconds:7.1f} s, peak RSS {peak:7.0f} MB")


if __name__ == "__main__":
    main()
