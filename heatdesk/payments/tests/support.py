"""Test helpers for the payment protocol layer and the simulators.

Keys are generated once per test session (RSA generation is slow) into a temporary key store
that both our clients and the simulators read, exactly as in sandbox mode.
"""

import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from heatdesk.payments.providers.devkeys import DevKeys, dev_keys, new_rsa_key

DATA = Path(__file__).parent / "data"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A merchant notify endpoint on 127.0.0.1 that records every POST and answers as told."""

    url: str
    received: list[Received] = field(default_factory=list)
    # (status, body) for the n-th request (0-based); default 200 + "success" for Alipay paths
    answer: Callable[[int, Received], tuple[int, bytes]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(f"expected {count} notifies, got {len(self.received)}")

    def settle(self, *, quiet: float = 0.5) -> list[Received]:
        """Everything received once nothing new has arrived for `quiet` seconds."""
        last = -1
        while True:
            with self.lock:
                now = len(self.received)
            if now == last:
                return list(self.received)
            last = now
            time.sleep(quiet)


def _handler(receiver: Receiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            item = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
            with receiver.lock:
                index = len(receiver.received)
                receiver.received.append(item)
            if receiver.answer is not None:
                status, body = receiver.answer(index, item)
            elif "alipay" in self.path:
                status, body = 200, b"success"
            else:
                status, body = 204, b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def payment_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("payment-keys")
    dev_keys(directory)
    return directory


@pytest.fixture(scope="session")
def payment_keys(payment_keys_dir: Path) -> DevKeys:
    return dev_keys(payment_keys_dir)


@pytest.fixture(scope="session")
def stranger_key() -> Any:
    """A key nobody registered: signatures made with it must be refused."""
    return new_rsa_key()


@pytest.fixture
def payment_settings(settings: Any, payment_keys_dir: Path) -> Any:
    """Sandbox-mode payment settings on the session's key store (every key from it)."""
    settings.SANDBOX = True
    settings.PAYMENTS_DEV_KEYS_DIR = payment_keys_dir
    for name in (
        "WECHATPAY_PRIVATE_KEY",
        "WECHATPAY_CERT_SERIAL",
        "WECHATPAY_API_V3_KEY",
        "WECHATPAY_PLATFORM_PUBLIC_KEY",
        "WECHATPAY_PLATFORM_PUBLIC_KEY_ID",
        "WECHATPAY_PLATFORM_CERTIFICATES",
        "ALIPAY_PRIVATE_KEY",
        "ALIPAY_PUBLIC_KEY",
    ):
        setattr(settings, name, "")
    settings.WECHATPAY_MCHID = "1900000001"
    settings.WECHATPAY_APPID = settings.WECHAT_MINI_APPID
    settings.ALIPAY_APP_ID = "2021000000000001"
    settings.ALIPAY_SELLER_ID = "2088000000000001"
    settings.WECHATPAY_NOTIFY_URL = "https://heat.example.cn/payments/notify/wechatpay"
    settings.ALIPAY_NOTIFY_URL = "https://heat.example.cn/payments/notify/alipay"
    settings.PAYMENTS_PROVIDER_TIMEOUT_SECONDS = 5
    return settings


def post_json(url: str, data: Any) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the live test server
        url, data=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def courier_idle(out_trade_no: str, *, timeout: float = 15.0) -> None:
    """Wait until the simulator has no notify for this order still to deliver. With the embedded
    database the live server shares the test's connection, so a test that settles or queries an
    order while the courier is still delivering its notify (and our endpoint settling it) would
    interleave two threads' transactions on one connection — something no deployment does."""
    from heatdesk.sandbox.payment_models import SandboxNotifyDelivery

    deadline = time.monotonic() + timeout
    while SandboxNotifyDelivery.objects.filter(
        order__out_trade_no=out_trade_no, state=SandboxNotifyDelivery.State.PENDING
    ).exists():
        assert time.monotonic() < deadline, "the simulator never delivered the notify"
        time.sleep(0.02)
