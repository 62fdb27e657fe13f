"""WARC -> bronze documents per second per core through the ingest stage, next to a plain
FastWARC + Resiliparse loop over the same WARC files in the same run. Prints the ratio (goal >= 0.8).

The crawl is built reproducibly: Debian's installed documentation HTML (/usr/share/doc, plus the
python3.11-doc package, apt-installed here when missing) is served on 127.0.0.1 and crawled with
``wget --warc-file``; the run stops with an error when the WARC holds less than --min-mb of HTML.

    .venv/bin/python bench/ingest.py [--min-mb 50] [--warc-max-size 24M] [--rounds 3] [--keep DIR]

Rounds alternate a plain-loop run and a stage run (a fresh lake each) on one engine; the result
is the median of the rounds' ratios, so one noisy stretch on a shared machine does not decide it.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

DOC_PACKAGES = ["python3.11-doc", "wget"]
DOC_ROOT = "/usr/share/doc"


def ensure_packages() -> None:
    missing = [p for p in DOC_PACKAGES
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def crawl(out: pathlib.Path, max_size: str) -> list[pathlib.Path]:
    """Serve DOC_ROOT on a free 127.0.0.1 port and mirror it into WARC files with wget."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=DOC_ROOT)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        subprocess.run(["wget", "-q", "-r", "-l", "inf", "--no-parent", "-e", "robots=off", "--delete-after",
                        "-P", str(out / "tmp"), f"--warc-file={out / 'crawl'}", f"--warc-max-size={max_size}",
                        "--no-warc-keep-log", f"http://127.0.0.1:{port}/"], check=False)
    finally:
        server.shutdown()
    shutil.rmtree(out / "tmp", ignore_errors=True)
    files = sorted(out.glob("crawl*.warc.gz"))
    src = out / "warc"
    src.mkdir(exist_ok=True)
    for f in files:
        f.rename(src / f.name)
    return sorted(src.glob("*.warc.gz"))


def plain_loop(files: list[pathlib.Path]) -> tuple[int, int]:
    """The reference: FastWARC responses, HTTP 200 HTML, Resiliparse encoding detection + main content."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    n, html_bytes = 0, 0
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                if rec.http_headers.status_code != 200:
                    continue
                if not (rec.http_content_type or "").lower().startswith(("text/html", "application/xhtml+xml")):
                    continue
                body = rec.reader.read()
                html_bytes += len(body)
                text = extract_plain_text(bytes_to_str(body, rec.http_charset or detect_encoding(body)),
                                          main_content=True)
                n += bool(text.strip())
    return n, html_bytes


def stage_runs(files_dir: pathlib.Path, work: pathlib.Path, cores: int, plain, rounds: int):
    """``rounds`` ingest-stage runs on one engine, each into a fresh lake (exactly-once would skip
    every file of a second run) and each after a run of ``plain`` (rounds alternate, so a noisy
    neighbour slows both sides alike). Returns [(plain result, plain s, stage result, stage s)]."""
    from tokenlake.config import from_dict
    from tokenlake.demo import demo_config
    from tokenlake.engine import start_engine
    from tokenlake.pipeline import run_pipeline

    def config(lake: pathlib.Path, uri: str) -> dict:
        data = demo_config(lake)
        data["engine"] = {"kind": "sail", "partitions": cores}
        data["sources"] = [{"name": "crawl", "uri": uri, "format": "warc"}]
        data["ingest"] = {"max_error_rate": 1.0}
        return data

    engine = start_engine(from_dict(config(work / "warm", str(files_dir))))
    out = []
    try:
        # warm-up (engine start, worker pool, first Delta writes) on one file in a separate lake
        warm = config(work / "warm", str(sorted(files_dir.glob("*.warc.gz"))[0]))
        run_pipeline(from_dict(warm), stages=["ingest"], engine=engine, quiet=True)
        for i in range(rounds):
            t = time.perf_counter()
            p = plain()
            plain_s = time.perf_counter() - t
            lake = work / f"lake{i}"
            shutil.rmtree(lake, ignore_errors=True)
            t = time.perf_counter()
            result = run_pipeline(from_dict(config(lake, str(files_dir))), stages=["ingest"], engine=engine,
                                  quiet=True).results[0]
            out.append((p, plain_s, result, time.perf_counter() - t))
            shutil.rmtree(lake, ignore_errors=True)
    finally:
        engine.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-mb", type=float, default=50)
    ap.add_argument("--warc-max-size", default="24M",
                    help="wget --warc-max-size (the stage reads files over its split size as several tasks)")
    ap.add_argument("--rounds", type=int, default=3, help="plain loop + stage rounds; the median ratio is the result")
    ap.add_argument("--keep", help="directory to build/keep the crawl in (reused when it has WARCs)")
    args = ap.parse_args()
    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="bench_ingest_"))
    work.mkdir(parents=True, exist_ok=True)
    files = sorted((work / "warc").glob("*.warc.gz"))
    if not files:
        ensure_packages()
        t = time.perf_counter()
        files = crawl(work, args.warc_max_size)
        print(f"crawl: {len(files)} WARC files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB gz "
              f"in {time.perf_counter() - t:.0f}s")
    n_plain, html_bytes = plain_loop(files)  # also the plain side's warm-up (imports, page cache)
    if html_bytes < args.min_mb * 1e6:
        sys.exit(f"only {html_bytes / 1e6:.1f} MB of HTML in the crawl, need {args.min_mb}")
    cores = max(1, min(os.cpu_count() or 1, len(files)))
    rounds = stage_runs(work / "warc", work / "lake", cores, lambda: plain_loop(files), max(1, args.rounds))
    plain_rates = [p[0] / plain_s for p, plain_s, _, _ in rounds]
    stage_rates = [r.n_kept / stage_s / cores for _, _, r, stage_s in rounds]
    result = rounds[-1][2]
    print(f"input: {len(files)} files, {html_bytes / 1e6:.1f} MB HTML in 200 responses, {n_plain} documents")
    for i, (p, plain_s, r, s) in enumerate(rounds):
        print(f"round {i + 1}: plain {plain_rates[i]:6.1f} docs/s ({plain_s:.1f}s), stage {stage_rates[i]:6.1f} "
              f"docs/s/core ({s:.1f}s), ratio {stage_rates[i] / plain_rates[i]:.2f}")
    plain_rate, stage_rate = statistics.median(plain_rates), statistics.median(stage_rates)
    print(f"plain FastWARC+Resiliparse loop (1 core): {plain_rate:8.1f} docs/s  (median of {len(rounds)})")
    print(f"ingest stage ({cores} cores, Sail):        {stage_rate:8.1f} docs/s/core  (median; "
          f"{result.detail.get('tasks')} tasks, {result.n_kept} docs, {result.n_rejected} quarantined, "
          f"skipped {result.detail.get('skipped_records')})")
    ratio = statistics.median(s / p for s, p in zip(stage_rates, plain_rates))
    print(f"ratio stage/plain per core: {ratio:.2f}  (median of the rounds' ratios; goal >= 0.8)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
