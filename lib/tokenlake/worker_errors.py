"""Executor-side errors, surfaced on the driver as what they were.

Spark wraps an exception raised in a Python worker (``mapInArrow`` etc.) in a PythonException whose
message is the whole worker traceback. For the errors our own I/O helpers raise on executors (an
object-store write that failed for good, naming the object), callers and users want the original
type and its one line, not a page of traceback: ``worker_errors()`` re-raises those.
"""
from __future__ import annotations

import contextlib
import re
from typing import Iterator

# Errors that keep their type when they cross from a worker to the driver.
_SURFACED = {"OSError": OSError, "FileNotFoundError": FileNotFoundError, "PermissionError": PermissionError,
             "ValueError": ValueError}
_LINE = re.compile(r"^(?P<type>[A-Za-z]+Error): (?P<msg>.+)$", re.M)


def original_error(exc: BaseException) -> BaseException | None:
    """The last ``XxxError: message`` line of a worker traceback, as that exception; else None."""
    if type(exc).__name__ not in ("PythonException", "SparkConnectGrpcException", "Py4JJavaError"):
        return None
    found = [m for m in _LINE.finditer(str(exc)) if m.group("type") in _SURFACED]
    if not found:
        return None
    last = found[-1]
    return _SURFACED[last.group("type")](last.group("msg").strip())


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised unchanged unless it wraps one of ours
        original = original_error(exc)
        if original is None:
            raise
        raise original from exc
