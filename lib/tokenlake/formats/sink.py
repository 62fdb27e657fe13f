"""Where a shard file's bytes go: straight to its final path on a local lake, or to a local
temporary file that is uploaded whole on close (object stores: a failed upload can then be
retried, and a half-written object never appears). The sha256 and size are computed while
writing, so no file is read back to be hashed.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

from .. import storage


class Sink:
    """A binary write-only file with ``write``/``tell``/``flush``/``close``; ``close`` returns a
    manifest entry ``{"path", "sha256", "bytes"}`` (``path`` relative to the version directory)."""

    def __init__(self, version_uri: str, rel_path: str, options: dict[str, str] | None = None):
        self.uri = storage.join(version_uri, *rel_path.split("/"))
        self.rel_path, self.options = rel_path, options
        self.sha = hashlib.sha256()
        self.n_bytes = 0
        self.closed = False
        if storage.is_remote(self.uri):
            fd, self._local = tempfile.mkstemp(prefix="tokenlake-shard-")
            self._fh = os.fdopen(fd, "wb", buffering=1 << 20)
        else:
            self._local = None
            os.makedirs(os.path.dirname(self.uri), exist_ok=True)
            self._fh = open(self.uri, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in close()

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._fh.write(view)
        self.sha.update(view)
        self.n_bytes += len(view)
        return len(view)

    def tell(self) -> int:
        return self.n_bytes

    def flush(self) -> None:
        self._fh.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> dict:
        if not self.closed:
            self.closed = True
            self._fh.close()
            if self._local:
                try:
                    storage.upload_file(self.uri, self._local, self.options)
                finally:
                    os.unlink(self._local)
        return {"path": self.rel_path, "sha256": self.sha.hexdigest(), "bytes": self.n_bytes}

    def abort(self) -> None:
        """Close without keeping anything (a failed task): the temporary file is removed."""
        if not self.closed:
            self.closed = True
            self._fh.close()
            if self._local:
                os.unlink(self._local)


def write_whole(version_uri: str, rel_path: str, data: bytes, options: dict[str, str] | None = None) -> dict:
    sink = Sink(version_uri, rel_path, options)
    sink.write(data)
    return sink.close()
