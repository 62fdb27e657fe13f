"""Object-store I/O for the files tokenlake writes outside tables (tokenizers, shards, reports).

One helper for local paths, file://, s3:// and abfss://, through pyarrow's filesystems, so the
same code writes shards to a laptop disk or a bucket. Credentials come from the environment
(boto3/Azure chains); only non-secret options (endpoint, region) are passed in.
"""
from __future__ import annotations

import functools
import io
import logging
import os
import random
import re
import time
import posixpath
from typing import NamedTuple
from urllib.parse import urlparse

import pyarrow.fs as pafs

log = logging.getLogger(__name__)


S3_MAX_ATTEMPTS = 5
RETRY_ATTEMPTS = 4
_TRANSIENT = re.compile(r"SLOW_?DOWN|INTERNAL_FAILURE|INTERNAL_?ERROR|SERVICE_UNAVAILABLE|THROTTL|reduce your request rate|"
                        r"\b50[0-4]\b|timed? ?out|Connection (reset|refused|aborted)|Broken pipe|NETWORK_CONNECTION",
                        re.IGNORECASE)


def with_retries(fn):
    """Retry an object-store call on transient errors (5xx, throttling, timeouts) with exponential
    backoff and jitter; other errors, and the last transient one, propagate with the object named."""
    @functools.wraps(fn)
    def call(uri, *args, **kwargs):
        delay = 0.5
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return fn(uri, *args, **kwargs)
            except OSError as exc:
                if attempt == RETRY_ATTEMPTS or not is_remote(uri) or not _TRANSIENT.search(str(exc)):
                    if uri not in str(exc):
                        raise OSError(f"{fn.__name__} {uri}: {exc}") from exc
                    raise
                log.warning("transient object-store error on %s (attempt %d/%d): %s", uri, attempt, RETRY_ATTEMPTS,
                            str(exc).splitlines()[0][:200])
                time.sleep(delay + random.uniform(0, delay))
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")
    return call


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def local_path(uri: str) -> str:
    """A local path for a local path or file:// URI (absolute, no scheme)."""
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    return os.path.abspath(uri)


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return os.path.join(local_path(base), *parts)


def filesystem(uri: str, options: dict[str, str] | None = None) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a URI."""
    options = options or {}
    if not is_remote(uri):
        return pafs.LocalFileSystem(), local_path(uri)
    parsed = urlparse(uri)
    scheme = parsed.scheme
    if scheme in ("s3", "s3a"):
        endpoint = options.get("endpoint_url") or options.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        kwargs = {}
        if endpoint:
            kwargs["endpoint_override"] = endpoint
            if endpoint.startswith("http://"):
                kwargs["scheme"] = "http"
        region = options.get("region") or options.get("AWS_REGION") or os.environ.get("AWS_REGION")
        if region:
            kwargs["region"] = region
        # Object stores answer 500/503 (SlowDown) under load: retry with backoff, more than the default 3.
        kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=S3_MAX_ATTEMPTS)
        return pafs.S3FileSystem(**kwargs), parsed.netloc + parsed.path
    if scheme in ("az", "abfs", "abfss", "wasb", "wasbs"):
        return _azure(parsed, options)
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path


def _azure(parsed, options: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    """ADLS Gen2 / Blob: ``abfss://container@account.dfs.core.windows.net/path`` or
    ``az://container/path`` (account from options ``account_name`` / AZURE_STORAGE_ACCOUNT_NAME).

    Non-secret endpoint options (``blob_endpoint`` / AZURE_STORAGE_BLOB_ENDPOINT, e.g. Azurite's
    http://127.0.0.1:10000) may be configured; the account key or SAS token only ever comes from
    the environment (AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN), else Azure's default
    credential chain (managed identity, az login, service principal env vars) is used."""
    container, _, host = parsed.netloc.partition("@")
    account = (host.split(".", 1)[0] if host else None) or options.get("account_name") \
        or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    if not account:
        raise ValueError(f"{parsed.scheme}:// needs a storage account: use container@account.dfs.core.windows.net "
                         "or set lake.storage_options.account_name / AZURE_STORAGE_ACCOUNT_NAME")
    kwargs: dict[str, str] = {}
    endpoint = options.get("blob_endpoint") or os.environ.get("AZURE_STORAGE_BLOB_ENDPOINT")
    if endpoint:
        ep = urlparse(endpoint)
        kwargs.update(blob_storage_authority=ep.netloc, blob_storage_scheme=ep.scheme or "https",
                      dfs_storage_authority=ep.netloc, dfs_storage_scheme=ep.scheme or "https")
    if os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"):
        kwargs["account_key"] = os.environ["AZURE_STORAGE_ACCOUNT_KEY"]
    elif os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        kwargs["sas_token"] = os.environ["AZURE_STORAGE_SAS_TOKEN"]
    return pafs.AzureFileSystem(account, **kwargs), container + parsed.path


def _uri_for(uri: str, fs_path: str) -> str:
    """The URI, in the style of ``uri``, of a path a filesystem listing returned."""
    if not is_remote(uri):
        return fs_path
    parsed = urlparse(uri)
    if "@" in parsed.netloc:  # abfss://container@host/path: the listing says container/path
        container, _, rest = fs_path.partition("/")
        return f"{parsed.scheme}://{container}@{parsed.netloc.split('@', 1)[1]}/{rest}"
    return parsed.scheme + "://" + fs_path


@with_retries
def write_bytes(uri: str, data: bytes, options: dict[str, str] | None = None) -> None:
    fs, path = filesystem(uri, options)
    parent = posixpath.dirname(path) if is_remote(uri) else os.path.dirname(path)
    fs.create_dir(parent, recursive=True)
    with fs.open_output_stream(path, compression=None) as out:
        out.write(data)


@with_retries
def read_bytes(uri: str, options: dict[str, str] | None = None) -> bytes:
    fs, path = filesystem(uri, options)
    with fs.open_input_stream(path, compression=None) as src:
        return src.read()


@with_retries
def exists(uri: str, options: dict[str, str] | None = None) -> bool:
    fs, path = filesystem(uri, options)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


@with_retries
def list_dir(uri: str, options: dict[str, str] | None = None) -> list[str]:
    """Names (not paths) of the direct children of a directory; [] if it does not exist."""
    fs, path = filesystem(uri, options)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return sorted(posixpath.basename(i.path.rstrip("/")) for i in infos)


@with_retries
def delete_dir(uri: str, options: dict[str, str] | None = None) -> None:
    fs, path = filesystem(uri, options)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


class FileEntry(NamedTuple):
    """A listed file. ``etag`` is the store's content tag (S3 ETag) or None where the listing has
    none (local files, Azure through pyarrow): then the mtime identifies the version."""
    uri: str
    size: int
    mtime_ns: int
    etag: str | None = None


@with_retries
def list_entries(uri: str, options: dict[str, str] | None = None) -> list[FileEntry]:
    """Every file below a prefix (or the file itself), sorted by uri, with its S3 ETag if any.

    Hidden and bookkeeping files (names starting with '.' or '_') are skipped, as Spark does.
    """
    fs, path = filesystem(uri, options)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"source path does not exist: {uri}")
    infos = [info] if info.type == pafs.FileType.File else fs.get_file_info(pafs.FileSelector(path, recursive=True))
    etags = _s3_etags(uri, options) if urlparse(uri).scheme in ("s3", "s3a") else {}
    out = []
    for i in infos:
        if i.type != pafs.FileType.File:
            continue
        rel = i.path[len(path):] if i.path.startswith(path) else i.path
        if any(p.startswith((".", "_")) for p in rel.split("/") if p):
            continue
        mtime = i.mtime_ns if i.mtime_ns is not None else 0
        out.append(FileEntry(_uri_for(uri, i.path), int(i.size), int(mtime), etags.get(i.path)))
    return sorted(out)


def list_files(uri: str, options: dict[str, str] | None = None) -> list[tuple[str, int, int]]:
    """``list_entries`` as (uri, size, mtime_ns) tuples."""
    return [(e.uri, e.size, e.mtime_ns) for e in list_entries(uri, options)]


def _s3_etags(uri: str, options: dict[str, str] | None) -> dict[str, str]:
    """{"bucket/key": ETag} below an s3:// prefix, from one paged ListObjectsV2 (pyarrow's listing
    has no ETag). Best effort: an error here only means versions are told apart by mtime."""
    import boto3

    options = options or {}
    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    endpoint = options.get("endpoint_url") or options.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    region = options.get("region") or options.get("AWS_REGION") or os.environ.get("AWS_REGION")
    try:
        client = boto3.client("s3", endpoint_url=endpoint or None, region_name=region or None)
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[f"{bucket}/{obj['Key']}"] = obj["ETag"].strip('"')
        return out
    except Exception as exc:  # noqa: BLE001
        log.warning("no ETags for %s (falling back to mtime): %s", uri, str(exc)[:200])
        return {}


def open_random(uri: str, options: dict[str, str] | None = None):
    """A seekable input file (ranged reads on object stores), for Parquet footers and byte ranges."""
    fs, path = filesystem(uri, options)
    return fs.open_input_file(path)


def open_input(uri: str, options: dict[str, str] | None = None):
    """A streaming binary input file (never read whole into memory)."""
    fs, path = filesystem(uri, options)
    # compression=None: pyarrow would otherwise gunzip by extension; the readers decide that.
    return io.BufferedReader(fs.open_input_stream(path, compression=None), buffer_size=1 << 20)


@with_retries
def delete_file(uri: str, options: dict[str, str] | None = None) -> None:
    fs, path = filesystem(uri, options)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_file(path)


@with_retries
def upload_file(uri: str, local: str, options: dict[str, str] | None = None) -> None:
    """Copy a finished local file to ``uri`` (retried as a whole: a stream cannot be replayed)."""
    fs, path = filesystem(uri, options)
    parent = posixpath.dirname(path) if is_remote(uri) else os.path.dirname(path)
    fs.create_dir(parent, recursive=True)
    with open(local, "rb") as src, fs.open_output_stream(path, compression=None) as out:
        while chunk := src.read(8 << 20):
            out.write(chunk)
