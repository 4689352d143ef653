"""A forwarding HTTP proxy on 127.0.0.1 for tests that need the network between us and a
provider (or between a provider and our notify endpoint) to misbehave: answers re-signed with a
stale timestamp, an unknown serial or a stranger's key, or a handler that is slow to answer.

The proxy forwards the request bytes unchanged (method, path, headers, body) to `target` and
hands the real answer to `rewrite`, which may change it; `sign` may replace the request's
headers (a request signed with the wrong key); `before` may hold a request back. Each
request it saw is counted in `seen`."""

import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length"})


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Proxy:
    url: str = ""
    target: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) per request
    rewrite: Callable[[Answer], Answer] | None = None
    before: Callable[[int, str], None] | None = None  # (index, path): may sleep
    # (method, path, headers, body) -> the headers to send instead
    sign: Callable[[str, str, dict[str, str], bytes], dict[str, str]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, fragment: str = "") -> int:
        with self.lock:
            return sum(1 for _, path in self.seen if fragment in path)


def _forward(proxy: Proxy, method: str, path: str, headers: Any, body: bytes) -> Answer:
    kept = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
    if proxy.sign is not None:
        kept = proxy.sign(method, path, kept, body)
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
        proxy.target + path, data=body if method != "GET" else None, headers=kept, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, dict(exc.headers.items()), exc.read())


def _handler(proxy: Proxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            with proxy.lock:
                index = len(proxy.seen)
                proxy.seen.append((self.command, self.path))
            if proxy.before is not None:
                proxy.before(index, self.path)
            answer = _forward(proxy, self.command, self.path, self.headers, body)
            if proxy.rewrite is not None:
                answer = proxy.rewrite(answer)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the caller gave up waiting (a timeout): exactly what some tests want

        do_GET = do_POST = _relay  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(name="proxy")
def proxy_fixture() -> Iterator[Proxy]:
    """A proxy; the test sets `target` (and `rewrite`/`before`) before sending through it."""
    found = Proxy()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
