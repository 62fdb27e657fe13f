"""Shard versions and their manifests.

``shards/<dataset>/v<N>/`` is immutable and complete only once ``manifest.json`` exists: the
manifest is written last, so a crashed run leaves a version that nothing reads, and the next run
takes a new number rather than reusing it.
"""
from __future__ import annotations

import datetime as dt
import json
import re

from . import __version__, storage

MANIFEST = "manifest.json"
_VERSION_DIR = re.compile(r"v(\d+)$")


def dataset_uri(root: str, dataset: str) -> str:
    return storage.join(root, "shards", dataset)


def version_numbers(root: str, dataset: str, options: dict[str, str] | None = None) -> list[int]:
    """Every version directory, complete or not."""
    names = storage.list_dir(dataset_uri(root, dataset), options)
    return sorted(int(m.group(1)) for m in map(_VERSION_DIR.match, names) if m)


def complete_versions(root: str, dataset: str, options: dict[str, str] | None = None) -> list[int]:
    return [v for v in version_numbers(root, dataset, options)
            if storage.exists(storage.join(dataset_uri(root, dataset), f"v{v}", MANIFEST), options)]


def next_version(root: str, dataset: str, options: dict[str, str] | None = None) -> int:
    return max(version_numbers(root, dataset, options), default=0) + 1


def write_manifest(version_uri: str, manifest: dict, options: dict[str, str] | None = None) -> str:
    uri = storage.join(version_uri, MANIFEST)
    if storage.exists(uri, options):
        raise FileExistsError(f"{uri} exists: shard versions are immutable")
    storage.write_bytes(uri, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(), options)
    return uri


def read_manifest(version_uri: str, options: dict[str, str] | None = None) -> dict:
    uri = storage.join(version_uri, MANIFEST)
    if not storage.exists(uri, options):
        raise FileNotFoundError(f"{version_uri} has no {MANIFEST}: the version is incomplete and must not be read")
    return json.loads(storage.read_bytes(uri, options))


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def code_version() -> str:
    return f"tokenlake {__version__}"
