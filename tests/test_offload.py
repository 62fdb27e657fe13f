"""The offload pool: its workers never outlive the process that made the pool, even when it is
SIGKILLed while they are still starting (then getppid() already answers 1 in the worker), and
they all start at the first call."""
import os
import signal
import subprocess
import sys
import textwrap
import time

LIB = os.path.join(os.path.dirname(__file__), "..", "lib")


def test_worker_whose_parent_died_before_its_init_exits():
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {LIB!r})
        from tokenlake.offload import _child_init
        _child_init(2 ** 22 + 12345)  # not our parent: it is gone already
        time.sleep(30)
        print("still alive")
    """)
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "still alive" not in out.stdout
    assert time.monotonic() - t < 15


def test_pool_workers_exit_after_their_parent_is_killed():
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {LIB!r})
        from tokenlake import offload
        if __name__ == "__main__":
            offload.enable_for_this_process(2)
            print(offload.offload(os.getpid), flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker {worker} outlived its killed parent")


def test_pool_starts_all_its_workers_at_the_first_call():
    """Without this the executor spawns a worker per call still waiting, so the second worker
    (start-up and imports: a second or more) joins a stage already under way."""
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {LIB!r})
        from tokenlake import offload
        if __name__ == "__main__":
            offload.enable_for_this_process(3)
            offload.offload(os.getpid)
            print(len(offload._pool._processes))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3"]
