"""The background-work port: what the core asks to have done later. jobs/queue.py implements it.

Every task takes ids only and is safe to run twice. Enqueueing happens after
the commit that makes the work necessary; if it fails, the committed rows are
the promise and the sweeper enqueues the work later.
"""
from __future__ import annotations

from typing import Protocol

__all__ = ["Tasks", "RecordingTasks"]


class Tasks(Protocol):
    def process_webhook(self, event_id: int) -> None: ...

    def push_refund(self, refund_id: int) -> None: ...

    def sync_refund(self, refund_id: int) -> None: ...

    def sync_return(self, return_id: int) -> None: ...

    def connect_shop(self, shop_id: int) -> None: ...

    def read_payments(self, order_id: int) -> None: ...

    def read_products(self, order_id: int) -> None: ...

    def open_shop_return(self, return_id: int) -> None: ...

    def carry_out_withdrawal(self, withdrawal_id: int) -> None: ...

    def send_message(self, message_id: int) -> None: ...

    def issue_credit_note(self, refund_id: int) -> None: ...

    def read_settlement(self, shop_id: int, route: str, settlement_id: str) -> None: ...

    def read_settlements(self, shop_id: int, route: str, since: str, until: str) -> None: ...


class RecordingTasks:
    """A Tasks that only remembers what was asked: for tests and dry runs."""

    def __init__(self):
        self.calls: list[tuple] = []

    def process_webhook(self, event_id: int) -> None:
        self.calls.append(("process_webhook", event_id))

    def push_refund(self, refund_id: int) -> None:
        self.calls.append(("push_refund", refund_id))

    def sync_refund(self, refund_id: int) -> None:
        self.calls.append(("sync_refund", refund_id))

    def sync_return(self, return_id: int) -> None:
        self.calls.append(("sync_return", return_id))

    def connect_shop(self, shop_id: int) -> None:
        self.calls.append(("connect_shop", shop_id))

    def read_payments(self, order_id: int) -> None:
        self.calls.append(("read_payments", order_id))

    def read_products(self, order_id: int) -> None:
        self.calls.append(("read_products", order_id))

    def open_shop_return(self, return_id: int) -> None:
        self.calls.append(("open_shop_return", return_id))

    def carry_out_withdrawal(self, withdrawal_id: int) -> None:
        self.calls.append(("carry_out_withdrawal", withdrawal_id))

    def send_message(self, message_id: int) -> None:
        self.calls.append(("send_message", message_id))

    def issue_credit_note(self, refund_id: int) -> None:
        self.calls.append(("issue_credit_note", refund_id))

    def read_settlement(self, shop_id: int, route: str, settlement_id: str) -> None:
        self.calls.append(("read_settlement", shop_id, route, settlement_id))

    def read_settlements(self, shop_id: int, route: str, since: str, until: str) -> None:
        self.calls.append(("read_settlements", shop_id, route, since, until))
