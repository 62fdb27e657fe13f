"""Ingest straight from object stores the test starts on 127.0.0.1: moto's S3 server and Azurite's
blob endpoint (npm package, installed once into the git-ignored build/azurite). Exactly-once holds
across re-runs; a new object is picked up; a changed object is reported, never duplicated."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import time

import boto3
import deltalake
import pytest
import pyarrow.fs as pafs

from conftest import REPO, free_port
from test_ingest_warc import doc_pages, expected, write_warc
from tokenlake import storage
from tokenlake.config import from_dict
from tokenlake.demo import demo_config
from tokenlake.pipeline import run_pipeline

AZURITE_DIR = REPO / "build" / "azurite"
# Azurite's documented development account (public, emulator-only; not a credential).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="session")
def azurite_bin():
    binary = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        assert shutil.which("npm"), "azurite needs npm (apt-get install npm)"
        subprocess.run(["npm", "install", "--silent", "--prefix", str(AZURITE_DIR), "azurite@3"], check=True)
    return binary


@pytest.fixture()
def azurite(azurite_bin, tmp_path, monkeypatch):
    port = free_port()
    proc = subprocess.Popen([str(azurite_bin), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                             str(tmp_path / "azurite"), "--skipApiVersionCheck", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", DEV_ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", DEV_KEY)
    monkeypatch.setenv("AZURE_STORAGE_BLOB_ENDPOINT", endpoint)
    fs = pafs.AzureFileSystem(DEV_ACCOUNT, account_key=DEV_KEY, blob_storage_authority=f"127.0.0.1:{port}",
                              blob_storage_scheme="http")
    deadline = time.monotonic() + 30
    while True:
        try:
            fs.create_dir("raw")
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.3)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


def ingest(tmp_path, engine, uri):
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "crawl", "uri": uri, "format": "warc"}]
    cfg = from_dict(data)
    return cfg, lambda: run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True, force=True).results[0]


def bronze(cfg):
    return deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze/documents")).to_pyarrow_table().to_pylist()


def check_exactly_once(tmp_path, engine, base_uri):
    pages = doc_pages()
    local = tmp_path / "w"
    local.mkdir()
    write_warc(local / "a.warc.gz", pages[:2], gz=True)
    write_warc(local / "b.warc.gz", pages[2:], gz=True)
    storage.upload_file(storage.join(base_uri, "a.warc.gz"), str(local / "a.warc.gz"))
    cfg, run = ingest(tmp_path, engine, base_uri)
    assert run().n_kept == 2
    assert sorted(r["text"] for r in bronze(cfg)) == sorted(expected(pages[:2]))
    assert {r["file_uri"] for r in bronze(cfg)} == {storage.join(base_uri, "a.warc.gz")}
    assert run().n_kept == 0  # same files again: nothing added
    storage.upload_file(storage.join(base_uri, "b.warc.gz"), str(local / "b.warc.gz"))
    assert run().n_kept == len(pages) - 2
    # a.warc.gz replaced by different content: reported, not re-ingested
    storage.upload_file(storage.join(base_uri, "a.warc.gz"), str(local / "b.warc.gz"))
    again = run()
    assert again.n_kept == 0
    assert [c["file_uri"] for c in again.detail["changed_files"]] == [storage.join(base_uri, "a.warc.gz")]
    assert len(bronze(cfg)) == len(pages)


def test_s3_warc_ingest_exactly_once(engine, tmp_path, s3_endpoint):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="crawl")
    check_exactly_once(tmp_path, engine, "s3://crawl/CC-MAIN-test/")


def test_az_warc_ingest_exactly_once(engine, tmp_path, azurite):
    check_exactly_once(tmp_path, engine, "az://raw/crawl")


def test_abfss_uri_lists_and_reads(tmp_path, azurite):
    uri = f"abfss://raw@{DEV_ACCOUNT}.dfs.core.windows.net/docs/x.warc"
    pages = doc_pages(2)
    write_warc(tmp_path / "x.warc", pages, gz=False)
    storage.upload_file(uri, str(tmp_path / "x.warc"))
    size = (tmp_path / "x.warc").stat().st_size
    assert [(u, s) for u, s, _ in storage.list_files(f"abfss://raw@{DEV_ACCOUNT}.dfs.core.windows.net/docs")] \
        == [(uri, size)]
    with storage.open_input(uri) as fh:
        assert fh.read() == (tmp_path / "x.warc").read_bytes()


def test_s3_parquet_jsonl_split_and_etag_versions(engine, tmp_path, s3_endpoint):
    """Parquet and JSONL read from moto S3 in byte ranges; the log keeps each object's ETag, so a
    re-upload of the same bytes (new mtime) is not a change, and other bytes of the same size are."""
    import json
    import pyarrow as pa
    import pyarrow.parquet as pq

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="src")
    texts = [f"document number {i} from the bucket " * 4 for i in range(30)]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": texts, "id": list(range(30))}), sink, row_group_size=4)
    s3.put_object(Bucket="src", Key="pq/a.parquet", Body=sink.getvalue().to_pybytes())
    body = b"".join(json.dumps({"text": t.upper(), "id": i}).encode() + b"\n" for i, t in enumerate(texts))
    s3.put_object(Bucket="src", Key="js/b.jsonl", Body=body)
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "p", "uri": "s3://src/pq/", "format": "parquet"},
                       {"name": "j", "uri": "s3://src/js/", "format": "jsonl"}]
    data["ingest"] = {"split_bytes": 500}
    cfg = from_dict(data)

    def run():
        return run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True, force=True).results[0]

    first = run()
    assert first.n_kept == 60 and first.detail["tasks"] > 4
    rows = bronze(cfg)
    assert sorted(r["text"] for r in rows) == sorted(texts + [t.upper() for t in texts])
    assert sorted(r["record_offset"] for r in rows if r["source"] == "p") == list(range(30))
    log = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "_ingest_log")).to_pyarrow_table().to_pylist()
    etags = {r["file_uri"]: r["etag"] for r in log}
    assert etags == {"s3://src/pq/a.parquet": s3.head_object(Bucket="src", Key="pq/a.parquet")["ETag"].strip('"'),
                     "s3://src/js/b.jsonl": s3.head_object(Bucket="src", Key="js/b.jsonl")["ETag"].strip('"')}
    before = {e.uri: e for e in storage.list_entries("s3://src/js/")}["s3://src/js/b.jsonl"]
    time.sleep(1.2)
    s3.put_object(Bucket="src", Key="js/b.jsonl", Body=body)  # the same bytes again
    after = {e.uri: e for e in storage.list_entries("s3://src/js/")}["s3://src/js/b.jsonl"]
    assert after.mtime_ns != before.mtime_ns and after.etag == before.etag
    same = run()
    assert (same.n_kept, same.detail["changed_files"]) == (0, [])
    s3.put_object(Bucket="src", Key="js/b.jsonl", Body=body.replace(b"DOCUMENT", b"DOKUMENT"))  # same size
    changed = run()
    assert changed.n_kept == 0
    assert [(c["file_uri"], c["size"]) for c in changed.detail["changed_files"]] == [("s3://src/js/b.jsonl", len(body))]
    assert len(bronze(cfg)) == 60


def test_az_parquet_and_jsonl_byte_ranges(engine, tmp_path, azurite):
    """Parquet footers and JSONL byte ranges are read with ranged reads from Azurite too; the rows
    equal a local whole-file read. Azure listings through pyarrow have no ETag: mtime decides."""
    import json
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"azure document {i} " * 6 for i in range(25)]
    pq.write_table(pa.table({"text": texts, "id": list(range(25))}), tmp_path / "a.parquet", row_group_size=3)
    (tmp_path / "b.jsonl").write_bytes(b"".join(json.dumps({"text": t[::-1]}).encode() + b"\n" for t in texts))
    storage.upload_file("az://raw/pq/a.parquet", str(tmp_path / "a.parquet"))
    storage.upload_file("az://raw/js/b.jsonl", str(tmp_path / "b.jsonl"))
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "p", "uri": "az://raw/pq", "format": "parquet"},
                       {"name": "j", "uri": "az://raw/js", "format": "jsonl"}]
    data["ingest"] = {"split_bytes": 400}
    cfg = from_dict(data)
    result = run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0]
    assert result.n_kept == 50 and result.detail["tasks"] > 4
    assert sorted(r["text"] for r in bronze(cfg)) == sorted(texts + [t[::-1] for t in texts])
    log = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "_ingest_log")).to_pyarrow_table().to_pylist()
    assert sorted((r["file_uri"], r["n_docs"], r["etag"]) for r in log) == [("az://raw/js/b.jsonl", 25, None),
                                                                           ("az://raw/pq/a.parquet", 25, None)]


@pytest.mark.parametrize("store", ["s3", "az"])
def test_warc_byte_ranges_from_object_stores(engine, tmp_path, request, store):
    """A per-record-gzip WARC on S3 / Azure is split (the planner's head check and every range are
    ranged reads), a whole-file-gzip one stays one task; the rows, doc_ids and offsets included,
    equal a whole-file ingest of the same files from local disk."""
    import gzip

    from test_ingest_warc import write_split_warc
    from tokenlake.stages.ingest import byte_ranges

    if store == "s3":
        boto3.client("s3", endpoint_url=request.getfixturevalue("s3_endpoint")).create_bucket(Bucket="crawl")
        base = "s3://crawl/seg/"
    else:
        request.getfixturevalue("azurite")
        base = "az://raw/seg"
    local = tmp_path / "w"
    local.mkdir()
    pages = write_split_warc(local / "a.warc.gz")
    write_warc(tmp_path / "b.warc", doc_pages(3), gz=False)
    (local / "b.warc.gz").write_bytes(gzip.compress((tmp_path / "b.warc").read_bytes()))
    for name in ("a.warc.gz", "b.warc.gz"):
        storage.upload_file(storage.join(base, name), str(local / name))

    def run(uri, split, min_split):
        data = demo_config(tmp_path / f"lake-{split}")
        data["sources"] = [{"name": "crawl", "uri": uri, "format": "warc"}]
        data["ingest"] = {"split_bytes": split, "min_split_bytes": min_split, "tasks_per_partition": 1}
        cfg = from_dict(data)
        return cfg, run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0]

    whole_cfg, whole = run(str(local), 256 << 20, 8 << 20)
    split_cfg, split = run(base, 3000, 1)
    assert whole.detail["tasks"] == 2
    assert split.detail["tasks"] == len(byte_ranges((local / "a.warc.gz").stat().st_size, 3000)) + 1 > 20

    def rows(cfg):
        return sorted((r["doc_id"], r["file_uri"].rsplit("/", 1)[-1], r["record_offset"], r["text"])
                      for r in bronze(cfg))

    assert rows(split_cfg) == rows(whole_cfg) and len(rows(split_cfg)) == len(pages) + 3
    assert sorted(r[3] for r in rows(split_cfg)) == sorted(expected(pages) + expected(doc_pages(3)))
