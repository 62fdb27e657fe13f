"""Quality stage throughput: documents per second per core through the Spark stage (signals in
``mapInArrow``, stored, then decided) next to the same signal function called in a plain Python
loop over the same documents in the same run. Prints the ratio (goal >= 0.8).

Documents are real text found on any Debian machine with this project installed: licenses,
copyright files and READMEs under /usr/share/doc, and the text/markdown/rst files inside the
installed Python packages.

    .venv/bin/python bench/quality.py [--docs 6000] [--max-chars 200000]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))


def documents(limit: int, max_chars: int, html: bool = False) -> list[str]:
    """Distinct real texts, in a fixed order. ``html``: also the main text of the HTML pages under
    /usr/share/doc (Resiliparse), for a training corpus larger than the plain text files."""
    roots = [pathlib.Path("/usr/share/doc"), pathlib.Path(sys.prefix) / "lib"]
    out, seen = [], set()
    suffixes = ("", ".txt", ".md", ".rst") + ((".html", ".htm") if html else ())
    for root in roots:
        for p in sorted(root.rglob("*")):
            if len(out) >= limit:
                return out
            if p.suffix not in suffixes or not p.is_file() or p.stat().st_size < 300:
                continue
            try:
                text = p.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if p.suffix in (".html", ".htm"):
                from resiliparse.extract.html2text import extract_plain_text

                text = extract_plain_text(text, main_content=True)
                if len(text) < 300:
                    continue
            text = text[:max_chars]
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def plain(texts: list[str], batch: int = 1000) -> float:
    import pyarrow as pa

    from tokenlake.signals.annotate import SignalParams, annotate_batch

    params = SignalParams()
    t = time.perf_counter()
    for i in range(0, len(texts), batch):
        chunk = texts[i:i + batch]
        n = len(chunk)
        annotate_batch(pa.RecordBatch.from_pydict({"doc_id": [str(j) for j in range(n)], "source": ["b"] * n,
                                                   "source_id": [None] * n, "url": [None] * n, "text": chunk}),
                       params)
    return time.perf_counter() - t


def stage(texts: list[str], cores: int, engine: str) -> float:
    from tokenlake import ids
    from tokenlake.config import from_dict
    from tokenlake.demo import demo_config
    from tokenlake.engine import start_engine
    from tokenlake.pipeline import run_pipeline
    from tokenlake.schemas_registry import spec
    from tokenlake.tables import Lake

    with tempfile.TemporaryDirectory() as tmp:
        data = demo_config(pathlib.Path(tmp))
        data["engine"]["partitions"] = cores
        if engine == "spark":  # JVM Spark local[cores]: Python workers are processes of their own
            data["engine"]["kind"] = "spark"
            data["engine"]["master"] = f"local[{cores}]"
            data["table_format"] = "parquet"  # Delta's jars are a Maven download this bench does not make
        cfg = from_dict(data)
        eng = start_engine(cfg)
        try:
            lake = Lake(eng.spark, cfg.lake.root, cfg.table_format)
            import pyarrow as pa
            import pyarrow.parquet as pq

            names = spec("bronze/documents").names
            n = len(texts)
            cols = {c: [None] * n for c in names}
            cols.update(doc_id=[ids.doc_id("b", f"f{i}", 0) for i in range(n)], source=["b"] * n, text=texts,
                        file_uri=[f"/b/f{i}" for i in range(n)], record_offset=[0] * n, decode_errors=[0] * n,
                        ingest_run=["bench"] * n)
            path = pathlib.Path(tmp) / "bronze.parquet"
            pq.write_table(pa.table({c: pa.array(cols[c], spec("bronze/documents").arrow_schema.field(c).type)
                                     for c in names}), path)
            lake.write(eng.spark.read.parquet(str(path)).repartition(cores), "bronze/documents", mode="overwrite")
            t = time.perf_counter()
            run_pipeline(cfg, engine=eng, quiet=not os.environ.get("BENCH_VERBOSE"), stages=["quality"], force=True)
            return time.perf_counter() - t
        finally:
            eng.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=6000)
    ap.add_argument("--max-chars", type=int, default=200_000)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--engines", default="sail,spark", help="engines to time the stage on")
    args = ap.parse_args()
    texts = documents(args.docs, args.max_chars)
    mb = sum(map(len, texts)) / 1e6
    t_plain = plain(texts)
    plain_rate = len(texts) / t_plain
    print(f"{len(texts)} documents, {mb:.1f} M characters")
    print(f"plain loop (1 core):                   {plain_rate:8.1f} docs/s  ({t_plain:.1f}s)")
    for engine in args.engines.split(","):
        t_stage = stage(texts, args.cores, engine)
        stage_rate = len(texts) / t_stage / args.cores
        print(f"quality stage ({args.cores} cores, {engine:<5}):      {stage_rate:8.1f} docs/s/core  ({t_stage:.1f}s)  "
              f"ratio stage/plain per core: {stage_rate / plain_rate:.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    main()
