"""One pipeline run at a time per lake: an exclusive lock object under ``<lake.root>/_locks/``.

Two runs on the same lake would both see a file as not yet ingested and both append it; Delta's
optimistic concurrency does not catch two appends. So a run takes the lock first: created with
O_EXCL locally and with a conditional put (If-None-Match: *) on S3, so exactly one creator wins.
A second run either waits (``wait_seconds``) or fails at once with a clear message. A lock left
by a run that died on this host (its pid is gone) is taken over.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
from urllib.parse import urlparse

from . import storage

LOCK_NAME = "pipeline.lock"


class LakeLocked(RuntimeError):
    """Another run holds the lake's lock."""


def _uri(root: str) -> str:
    return storage.join(root, "_locks", LOCK_NAME)


def _create_exclusive(uri: str, body: bytes, options: dict[str, str] | None) -> bool:
    """Create the object only if it does not exist; True when this call created it."""
    if not storage.is_remote(uri):
        path = storage.local_path(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        return True
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        import boto3
        from botocore.exceptions import ClientError

        endpoint = (options or {}).get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL")
        client = boto3.client("s3", endpoint_url=endpoint)
        try:
            client.put_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), Body=body, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True
    # Other object stores: check-then-write; a narrow race remains (documented in RELIABILITY.md).
    if storage.exists(uri, options):
        return False
    storage.write_bytes(uri, body, options)
    return True


def _holder(uri: str, options) -> dict:
    try:
        return json.loads(storage.read_bytes(uri, options))
    except Exception:  # noqa: BLE001 - unreadable or vanished: treat as unknown
        return {}


def _dead_on_this_host(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname() or not holder.get("pid"):
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextlib.contextmanager
def lake_lock(root: str, run_id: str, options: dict[str, str] | None = None, wait_seconds: float = 0.0,
              progress=None):
    uri = _uri(root)
    body = json.dumps({"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                       "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}).encode()
    deadline = time.monotonic() + wait_seconds
    announced = False
    while not _create_exclusive(uri, body, options):
        holder = _holder(uri, options)
        if _dead_on_this_host(holder):
            if progress:
                progress(f"taking over the lock of run {holder.get('run_id')} (pid {holder.get('pid')} is gone)")
            storage.delete_file(uri, options)
            continue
        if time.monotonic() >= deadline:
            raise LakeLocked(
                f"another tokenlake run holds the lake lock {uri}: run {holder.get('run_id')} on host "
                f"{holder.get('host')} (pid {holder.get('pid')}) since {holder.get('started_at')}. Wait for it "
                "(--wait SECONDS), or delete that object if the run is gone.")
        if progress and not announced:
            progress(f"waiting for run {holder.get('run_id')} to release the lake lock")
            announced = True
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    try:
        yield
    finally:
        if _holder(uri, options).get("run_id") == run_id:
            storage.delete_file(uri, options)
