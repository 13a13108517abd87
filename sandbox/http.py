"""What the sandboxes take and give: one HTTP request in, one reply (or a lost one) out, whatever carries it.

The same sandbox object answers behind a real socket (`sandbox.server`) and
behind the test suite's `responses` mock (`tests/fakes.py`), so the two are
one code base: only the transport differs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

__all__ = ["LOST", "LOST_AFTER", "SANDBOX_HEADER", "Reply", "Request", "error"]

# Every sandbox reply says what it is, so nobody takes it for the real service's.
SANDBOX_HEADER = "X-Palautus-Sandbox"


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)  # names as sent; look them up with `header`
    body: str = ""

    def header(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), default)

    def form(self) -> dict:
        return dict(parse_qsl(self.body, keep_blank_values=True))

    def json(self):
        return json.loads(self.body or "null")

    @classmethod
    def of(cls, method: str, url: str, headers: dict, body) -> Request:
        """A request from a full or relative URL (the query string split off)."""
        path, _, query = url.split("://", 1)[-1].partition("?") if "://" in url else url.partition("?")
        if "://" in url:
            path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        text = body.decode() if isinstance(body, bytes) else (body or "")
        return cls(method.upper(), path, dict(parse_qsl(query, keep_blank_values=True)), dict(headers or {}), text)


@dataclass
class Reply:
    status: int
    body: object = None  # JSON-able, or str for a body as it is
    headers: dict = field(default_factory=dict)

    def text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


class _Lost:
    """No answer: the connection is dropped. `made` says whether the request took effect first."""

    def __init__(self, made: bool):
        self.made = made

    def __repr__(self) -> str:
        return f"LOST(made={self.made})"


LOST = _Lost(made=False)  # lost on the way there: nothing happened
LOST_AFTER = _Lost(made=True)  # done, and the answer lost on the way back


def error(status: int, body: object, **headers: str) -> Reply:
    return Reply(status, body, headers)
