"""A small HTTP/1.1 load generator on asyncio streams (standard library only), for benchmarks over loopback.

Every request is built as bytes before the clock starts (`build_request`) and sent on a connection of its own
(`Connection: close`: gunicorn's sync workers close each connection after one answer anyway). Of each answer only
the status line and Content-Length are read. The generator shares the machine's cores with the server it
measures: `Result.cpu_seconds` says what it cost itself.

Two ways to load a server:
- `closed_loop`: N connections at once, each sending its next request when the previous answer has arrived, for a
  number of requests or seconds: how much the server does when it sets the pace.
- `open_loop`: a fixed rate, request i due at t0 + i/rate whatever the server does. Its latency counts from when it
  was due, not from when it could be sent, so a server falling behind shows in the latency instead of slowing the
  generator down (no coordinated omission). At most `max_in_flight` requests are out at once; a request sent more
  than `late_after` seconds after it was due is counted as late.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

__all__ = ["Result", "build_request", "closed_loop", "open_loop"]

_CONNECTION_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError)


@dataclass
class Result:
    """What one load run saw. Latencies are of the answered requests (any status), in milliseconds."""

    requests: int  # requests sent
    statuses: dict[int, int]  # answers by HTTP status
    errors: int  # no full answer: refused, reset, cut short or timed out
    elapsed: float  # seconds from the first request's start (or due time) to the last answer
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    ok: list[int] = field(repr=False)  # indexes (into the requests given) of those answered 2xx
    late: int = 0  # open loop: sent more than `late_after` after it was due
    cpu_seconds: float = 0.0  # the generator's own CPU time during the run
    exhausted: bool = False  # closed loop: the requests given ran out before the time did

    @property
    def throughput(self) -> float:
        """2xx answers per second."""
        return len(self.ok) / self.elapsed if self.elapsed else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    def numbers(self) -> dict:
        """The figures as a flat dict of numbers."""
        return {"requests": self.requests, "ok": len(self.ok), "non_2xx": self.non_2xx, "errors": self.errors,
                "late": self.late, "elapsed_s": round(self.elapsed, 3), "per_second": round(self.throughput, 1),
                "p50_ms": round(self.p50_ms, 2), "p99_ms": round(self.p99_ms, 2), "p999_ms": round(self.p999_ms, 2),
                "max_ms": round(self.max_ms, 2), "client_cpu_s": round(self.cpu_seconds, 2)}  # fmt: skip


def build_request(path: str, headers: dict[str, str], body: bytes, method: str = "POST",
                  host: str = "127.0.0.1") -> bytes:  # fmt: skip
    """One HTTP/1.1 request as bytes, closing its connection after the answer."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def closed_loop(host: str, port: int, requests: list[bytes], connections: int, seconds: float | None = None,
                timeout: float = 30.0) -> Result:  # fmt: skip
    """`connections` at once, each sending the next request (in order) when its previous answer arrives; until the
    requests run out or, with `seconds`, the time does (the requests then out are still waited for)."""
    return asyncio.run(_closed(host, port, requests, connections, seconds, timeout))


def open_loop(host: str, port: int, requests: list[bytes], rate: float, max_in_flight: int = 2000,
              late_after: float = 0.01, timeout: float = 30.0) -> Result:  # fmt: skip
    """Every request at its due time t0 + i/rate; latency from that due time."""
    return asyncio.run(_open(host, port, requests, rate, max_in_flight, late_after, timeout))


class _Tally:
    """Answers and latencies as they come, turned into a Result at the end."""

    def __init__(self):
        self.sent = self.errors = self.late = 0
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.ok: list[int] = []

    def answered(self, index: int, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)
        if 200 <= status < 300:
            self.ok.append(index)

    def result(self, elapsed: float, cpu: float, exhausted: bool = False) -> Result:
        ordered = sorted(self.latencies)
        return Result(requests=self.sent, statuses=dict(sorted(self.statuses.items())), errors=self.errors,
                      elapsed=elapsed, p50_ms=_percentile(ordered, 50), p99_ms=_percentile(ordered, 99),
                      p999_ms=_percentile(ordered, 99.9), max_ms=ordered[-1] * 1000 if ordered else math.nan,
                      ok=sorted(self.ok), late=self.late, cpu_seconds=cpu, exhausted=exhausted)  # fmt: skip


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest rank, in milliseconds: a p99.9 of fewer than 1000 answers is their maximum."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


async def _exchange(host: str, port: int, data: bytes, timeout: float) -> int:
    """Send one request on a new connection; its answer's status (the body is read by its length, or to the end)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            if length is None:
                await reader.read()
            elif length:
                await reader.readexactly(length)
            return int(head[9:12])
        finally:
            writer.close()


def _content_length(head: bytes) -> int | None:
    start = head.lower().find(b"\r\ncontent-length:")
    if start < 0:
        return None
    start += 17
    return int(head[start:head.index(b"\r\n", start)])


async def _closed(host, port, requests, connections, seconds, timeout) -> Result:
    tally, order = _Tally(), iter(range(len(requests)))
    cpu, start = time.process_time(), time.perf_counter()
    deadline = start + seconds if seconds else math.inf

    async def connection():
        for i in order:  # shared by every connection: each takes the next request
            if time.perf_counter() >= deadline:
                return
            tally.sent += 1
            sent = time.perf_counter()
            try:
                status = await _exchange(host, port, requests[i], timeout)
            except _CONNECTION_ERRORS:
                tally.errors += 1
                continue
            tally.answered(i, status, time.perf_counter() - sent)

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    exhausted = tally.sent == len(requests) and time.perf_counter() < deadline
    return tally.result(elapsed, time.process_time() - cpu, exhausted)


async def _open(host, port, requests, rate, max_in_flight, late_after, timeout) -> Result:
    tally, slots, running = _Tally(), asyncio.Semaphore(max_in_flight), set()
    cpu = time.process_time()

    async def one(i: int, due: float):
        try:
            status = await _exchange(host, port, requests[i], timeout)
        except _CONNECTION_ERRORS:
            tally.errors += 1
        else:
            tally.answered(i, status, time.perf_counter() - due)
        finally:
            slots.release()

    t0 = time.perf_counter() + 0.01
    for i in range(len(requests)):
        due = t0 + i / rate
        wait = due - time.perf_counter()
        if wait > 0:  # else it is due already: sent at once, behind time
            await asyncio.sleep(wait)
        await slots.acquire()
        if time.perf_counter() - due > late_after:
            tally.late += 1
        tally.sent += 1
        task = asyncio.create_task(one(i, due))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)
    return tally.result(time.perf_counter() - t0, time.process_time() - cpu)
