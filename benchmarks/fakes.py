"""What the pipeline benchmarks run against: the sandbox server as its own process, a receiver for its shops'
webhooks, and deliveries built from the sample payloads under tests/payloads/.

- `SandboxServer` starts `python -m sandbox` with its benchmark knobs (sandbox/knobs.py: a latency on every API
  answer, Stripe's and Shopify's rate limits) and speaks its control API.
- `Sink` is where the sandbox shops deliver their webhooks: while `forward` is set it hands each delivery of the
  shops in `domains`, as it came (signed), to Palautus's own receiver through the Flask test client, so it lands
  in the inbox as a real delivery does; any other it answers 200 and only counts (the echoes of a benchmark's
  own work).
- `Deliveries` builds Shopify deliveries from the documented samples (orders/create, refunds/create,
  returns/request, returns/approve), each with ids of its own, and signs them as Shopify does.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from adapters.platforms.shopify.webhooks import sign
from sandbox.http import Reply
from sandbox.server import HTTPSandbox

__all__ = ["SandboxServer", "Sink", "Deliveries", "ROOT", "free_port", "stop_group", "tail"]

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ROOT / "tests" / "payloads" / "shopify"
STARTUP_SECONDS = 60

# The ids the sample family uses (an order, its two lines, a return on both lines, a refund of both lines):
# each delivery built from it gets ids of its own in their place.
SAMPLE_ORDER = "5196695273621"
SAMPLE_LINES = ("12695210000533", "12695210033301")
SAMPLE_RETURN = "3547267221"
SAMPLE_RETURN_ITEMS = ("6200524949", "6200524950", "10736341352597", "10736341385365")
APPROVE_SAMPLE_RETURN, APPROVE_SAMPLE_ORDER = "123134564567890", "4783296544821"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class SandboxServer:
    """`python -m sandbox` in a process (group) of its own, on a free port, stopped on exit."""

    def __init__(self, log_dir: Path, latency_ms: float = 0, rate_limits: bool = False, stripe_mode: str = "test",
                 shopify_plan: str = "standard"):  # fmt: skip
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / "sandbox.log"
        self.env = {
            **os.environ, "PALAUTUS_ENV": "development", "VAR_DIR": str(log_dir), "SANDBOX_PORT": str(self.port),
            "SANDBOX_URL": self.url, "SANDBOX_LATENCY_MS": str(latency_ms), "SANDBOX_RATE_LIMITS": "1" if rate_limits else "",
            "SANDBOX_STRIPE_MODE": stripe_mode, "SANDBOX_SHOPIFY_PLAN": shopify_plan, "PYTHONUNBUFFERED": "1",
        }  # fmt: skip
        self.http = requests.Session()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SandboxServer:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "sandbox"], cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(requests.RequestException):
                if self.http.get(f"{self.url}/sandbox/limits", timeout=1).ok:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the sandbox did not start:\n{tail(self.log)}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_group(self.process)

    def control(self, method: str, path: str, **kwargs):
        answer = self.http.request(method, f"{self.url}/sandbox{path}", timeout=30, **kwargs)
        if answer.status_code >= 400:
            raise RuntimeError(f"sandbox {method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def limits(self) -> dict:
        """Requests answered and refused so far, per API and operation: {"shopify": {"answered": {...}, ...}, ...}."""
        return self.control("GET", "/limits")


def stop_group(*processes: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to each process's group (it and whatever it started; each was started in a session of its own),
    then SIGKILL to what is left of the groups after `grace` seconds."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.01))
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group's stragglers too (a worker's forked child, its scheduler)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


class Sink:
    """Where the sandbox shops deliver: forwarded to Palautus's receiver (`forward`), or answered 200 and counted."""

    def __init__(self, app):
        self.app = app
        self.forward = True
        self.domains: set[str] = set()  # the shops whose deliveries are forwarded (a finished run's echoes are not)
        self.received: Counter = Counter()  # topic -> deliveries
        self.stored: list[int] = []  # inbox event ids of the forwarded deliveries
        self.refused: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self.server = HTTPSandbox(self._answer)
        self.url = f"{self.server.url}/webhooks/shopify"

    def _answer(self, request) -> Reply:
        with self._lock:
            self.received[request.header("X-Shopify-Topic")] += 1
        if not self.forward or request.header("X-Shopify-Shop-Domain") not in self.domains:
            return Reply(200, {})
        answer = self.app.test_client().post("/webhooks/shopify", data=request.body.encode(),
                                             headers={k: v for k, v in request.headers.items() if k.lower().startswith("x-shopify-")
                                                      or k.lower() == "content-type"})  # fmt: skip
        with self._lock:
            if answer.status_code == 200:
                self.stored.append(answer.get_json()["event_id"])
            else:
                self.refused.append((answer.status_code, answer.get_data(as_text=True)[:200]))
        return Reply(answer.status_code, answer.get_json(silent=True) or {})

    def wait_for(self, count: int, timeout: float = 120) -> list[int]:
        """Until `count` deliveries were forwarded and stored; their event ids, oldest first."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self.refused:
                    raise RuntimeError(f"Palautus refused a sandbox delivery: {self.refused[0]}")
                if len(self.stored) >= count:
                    return sorted(self.stored)
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.stored)} of {count} sandbox deliveries arrived in {timeout:.0f} s")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.close()


def _sample(name: str) -> str:
    return (PAYLOADS / name).read_text()


class Deliveries:
    """Shopify deliveries built from the samples, each with ids of its own; `signed(...)` gives the headers."""

    def __init__(self, secret: str):
        self.secret = secret
        self.order_sample = _sample("orders__create.eur_presentment.json")
        self.refund_sample = _sample("refunds__create.two_lines.json")
        self.request_sample = _sample("returns__request.two_items.json")
        self.approve_sample = _sample("returns__approve.sample.json")
        self._next = 9_100_000_000_000

    def new_id(self) -> int:
        self._next += 1
        return self._next

    def order(self, order_id: str, lines: tuple[str, str], paid: bool, updated: int = 0) -> bytes:
        """orders/create or orders/updated: the sample order (two lines, EUR presentment) as this order, paid or
        pending, `updated` hours after the sample's own update."""
        body = json.loads(_renamed(self.order_sample, {SAMPLE_ORDER: order_id, **dict(zip(SAMPLE_LINES, lines))}))
        body["financial_status"] = "paid" if paid else "pending"
        moment = datetime.fromisoformat(body["updated_at"]) + timedelta(hours=updated)
        body["updated_at"] = moment.isoformat()
        return json.dumps(body).encode()

    def refund(self, order_id: str, lines: tuple[str, str]) -> bytes:
        """refunds/create: the merchant refunded one unit of each line in the admin (the sample's refund)."""
        refund = json.loads(self.refund_sample)
        names = {SAMPLE_ORDER: order_id, **dict(zip(SAMPLE_LINES, lines)), str(refund["id"]): str(self.new_id()),
                 SAMPLE_RETURN: str(self.new_id())}  # made on a return of the shop's own: one Palautus never saw
        names.update({str(row["id"]): str(self.new_id()) for row in refund["refund_line_items"]})
        return _renamed(self.refund_sample, names).encode()

    def return_request(self, order_id: str, lines: tuple[str, str], return_id: str) -> bytes:
        """returns/request: the customer asks to return one unit of each line (the sample's two-item request)."""
        names = {SAMPLE_ORDER: order_id, **dict(zip(SAMPLE_LINES, lines)), SAMPLE_RETURN: return_id}
        names.update({item: str(self.new_id()) for item in SAMPLE_RETURN_ITEMS})
        return _renamed(self.request_sample, names).encode()

    def return_approve(self, order_id: str, return_id: str) -> bytes:
        """returns/approve: the merchant approved that return in the admin."""
        return _renamed(self.approve_sample, {APPROVE_SAMPLE_RETURN: return_id, APPROVE_SAMPLE_ORDER: order_id}).encode()

    def signed(self, domain: str, topic: str, body: bytes) -> dict:
        """The headers Shopify sends with a delivery, signed with the app's secret."""
        return {
            "Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": domain,
            "X-Shopify-Hmac-Sha256": sign(body, self.secret), "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }  # fmt: skip


def _renamed(text: str, names: dict) -> str:
    """The sample's text with each of its ids replaced (every id here is 10 or more digits: no id is part of another)."""
    for old, new in names.items():
        text = text.replace(str(old), str(new))
    return text
