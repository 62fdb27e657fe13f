"""An HTTP proxy on 127.0.0.1 that forwards to an S3 endpoint (moto) and injects failures:
a deterministic share of requests answered 503 SlowDown / 500 InternalError, and keys that
always fail. Used to test retries and clear errors against real S3 clients.

It runs as its own process (``start_proxy``): an in-process proxy would need the GIL that a
blocking deltalake call in the test process holds, and the two would wait on each other.
``GET /__stats`` answers {"requests": N, "injected": M}; ``GET /__heal`` stops the faults.
The S3 endpoint of a bucket is fixed once an engine has used it (Sail caches the client), so a
test heals the proxy instead of pointing the engine elsewhere."""
from __future__ import annotations

import http.client
import http.server
import itertools
import json
import subprocess
import sys
import time
import urllib.request
import re
import threading
from urllib.parse import urlparse

ERRORS = [(503, "SlowDown", "Please reduce your request rate."), (500, "InternalError", "We encountered an internal error.")]


class FaultProxy:
    def __init__(self, upstream: str, fail_every: int = 0, fail_keys: str | None = None):
        self.upstream = urlparse(upstream)
        self.fail_every = fail_every          # every Nth request fails once (0: none)
        self.fail_keys = re.compile(fail_keys) if fail_keys else None  # these paths always fail
        self.counter = itertools.count(1)
        self.injected = 0
        self.requests = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every small response waits ~40 ms for a delayed ACK

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                if self.path == "/__heal":  # stop injecting faults from now on
                    proxy.fail_every, proxy.fail_keys = 0, None
                    self.path = "/__stats"
                if self.path == "/__stats":
                    payload = json.dumps({"requests": proxy.requests, "injected": proxy.injected}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                with proxy._lock:
                    n = next(proxy.counter)
                    proxy.requests += 1
                    fail = (proxy.fail_every and n % proxy.fail_every == 0) or (
                        proxy.fail_keys is not None and proxy.fail_keys.search(self.path))
                    if fail:
                        proxy.injected += 1
                if fail:
                    status, code, message = ERRORS[n % len(ERRORS)]
                    payload = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                               f"<Message>{message}</Message></Error>").encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                # A HEAD answer carries the object's length, not the (empty) body's.
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _read_chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class ProxyProcess:
    """The proxy in a child process; ``stats()`` reads its counters."""

    def __init__(self, upstream: str, fail_every: int = 0, fail_keys: str | None = None):
        args = [sys.executable, __file__, upstream, str(fail_every)] + ([fail_keys] if fail_keys else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/__stats", timeout=10) as r:
            return json.load(r)

    def heal(self) -> dict:
        with urllib.request.urlopen(self.url + "/__heal", timeout=10) as r:
            return json.load(r)

    def __enter__(self) -> "ProxyProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


if __name__ == "__main__":
    proxy = FaultProxy(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    print(proxy.url, flush=True)
    proxy.server.serve_forever()
