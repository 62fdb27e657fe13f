"""Python work of ``mapInArrow`` functions, spread over processes when the engine runs it in-process.

Sail in local mode executes Python UDFs inside its own process, one thread per partition; the GIL
lets one of them run at a time, so the Python-heavy stages (signals, tokenization) would use one
core however many partitions run. When the Sail engine is started here, it records this process
and a pool size; ``offload(fn, *args)`` then sends the call to a pool of worker processes (started
once, each importing tokenlake and loading its models once) and waits, which releases the GIL.
Anywhere else (JVM Spark and Databricks run Python workers as processes already; a remote Sail or
Connect server) it simply calls ``fn``. ``fn`` must be a module-level function and its arguments
picklable (Arrow batches are).
"""
from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

PID_VAR = "TOKENLAKE_UDF_POOL_PID"
SIZE_VAR = "TOKENLAKE_UDF_POOL_SIZE"
_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def enable_for_this_process(size: int) -> None:
    """Called by the in-process engine: UDFs running in this process use ``size`` worker processes."""
    os.environ[PID_VAR] = str(os.getpid())
    os.environ[SIZE_VAR] = str(size)


def _size() -> int:
    if os.environ.get(PID_VAR) != str(os.getpid()):
        return 0
    try:
        return int(os.environ.get(SIZE_VAR, "0"))
    except ValueError:
        return 0


def _get_pool(size: int, module: str) -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn: forking a process that runs Rust threads (the engine) is not safe.
            _pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_child_init, initargs=(os.getpid(),))
            atexit.register(_pool.shutdown, wait=True, cancel_futures=True)
            # Start every worker now, each importing the first caller's module: otherwise the
            # executor spawns one per call still waiting, so the later workers (a second or so of
            # start-up and imports each) join only when a stage is already under way.
            for _ in range(size):
                _pool.submit(importlib.import_module, module or "builtins")
        return _pool


def _child_init(parent: int) -> None:
    """``parent``: the pid of the process that made the pool, passed in rather than read with
    getppid() here, which already answers 1 when the parent was killed while this worker started."""
    os.environ.pop(PID_VAR, None)  # a worker never offloads again
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAYON_NUM_THREADS", "1")

    def exit_with_parent() -> None:  # a killed parent (SIGKILL skips atexit) must not leave workers behind
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()


def active() -> bool:
    """Whether ``offload`` sends work to the process pool here."""
    return _size() > 1


def offload(fn: Callable[..., Any], *args: Any) -> Any:
    size = _size()
    if size <= 1:
        return fn(*args)
    return _get_pool(size, fn.__module__).submit(fn, *args).result()
