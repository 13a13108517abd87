"""process_webhook: turn one stored delivery into changes on the model, whatever platform sent it.

The shop's platform adapter says what the delivery means (a record of
`integration.records`); the handlers here apply records to the model through the
services. No handler knows which platform the record came from.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from adapters.errors import GrantRevoked, PayloadError, ProviderRejected, ProviderUnavailable
from adapters.payments import ROUTES
from adapters.platforms import PLATFORMS, platform_adapter
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from integration.db import lock_row
from integration.errors import Conflict, InvalidInput, MissingCredentials, PalautusError
from integration.models import Order, Refund, Return, Shop, WebhookEvent, utcnow
from integration.records import (
    CustomerDataRequest, CustomerRedact, OrderRemoved, OrderSnapshot, ProductData, ProviderRefundUpdate, RefundMoneyMoved,
    ReturnRequestData, ReturnStatusChange, SettlementReport, ShopRedact, ShopRefundData, ShopUninstalled,
)
from integration.refunds import RefundStatus
from integration.money import Money
from integration.returns import Actor, ReturnMethod, ReturnSource, ReturnStatus
from integration.services import orders, privacy, refunds, returns, shop_returns
from integration.services.inbox import EventStatus, mark_event
from integration.services.orders import OrderNotKnown
from jobs.settlements import keep
from integration.services.shops import raise_alert, uninstall_shop
from integration.services.timeline import record
from jobs.backoff import respect_retry_after
from jobs.context import JobContext, job_context
from jobs.outcomes import REFUSALS
from jobs.products import on_product

__all__ = ["process_webhook", "read_payments", "read_order_payments", "HANDLERS"]

logger = logging.getLogger(__name__)

# rq retries an event a few times within the hour; after that the sweeper keeps
# trying with a growing pause (a return request can come hours before its order),
# until MAX_ATTEMPTS, when the event is marked failed for an operator to look at.
MAX_ATTEMPTS = 30
MAX_PAUSE = timedelta(hours=2)


class RetryLater(Exception):
    """Raised so rq retries the event with backoff; the reason is stored on the event."""


def _pause(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2**attempts), MAX_PAUSE)


def read_payments(jc: JobContext, shop: Shop, order: Order) -> None:
    """Record the order's payments as its platform reports them (webhooks do not carry them), and commit.

    A return's read and its refund job's may run at once: the one that finds the other's rows written a moment
    ago (the unique transaction id) updates them instead."""
    found = jc.platform(shop).order_payments(order.platform_order_id)
    try:
        orders.record_payments(jc.session, order, found)
        jc.session.commit()
    except IntegrityError:
        jc.session.rollback()
        orders.record_payments(jc.session, order, found)
        jc.session.commit()


def read_order_payments(order_id: int) -> None:
    """The job a return's opening asks for when its order's payments were never read: read them once."""
    with job_context() as jc:
        order = jc.session.get(Order, order_id)
        if order is None or order.payments_synced_at is not None:
            return
        shop = jc.session.get(Shop, order.shop_id)
        if shop is None or shop.uninstalled_at is not None:
            return
        try:
            _payments_for_return(jc, shop, order)
        except ProviderUnavailable as e:  # rq retries it, not sooner than the platform asked
            respect_retry_after(e)
            raise


def on_order(jc: JobContext, shop: Shop, snapshot: OrderSnapshot) -> Order:
    _one_at_a_time(jc, shop)  # a customer's erasure commits its tombstones under this lock too: one sees the other
    order, newer = orders.upsert_order(jc.session, shop.id, snapshot)  # an erased customer's order: no e-mail
    _erasure(jc, shop, order.platform_order_id)
    jc.session.commit()
    if snapshot.payments is not None:
        # The platform's order carries its payments: nothing to read (an older snapshot changes nothing).
        if newer:
            orders.record_payments(jc.session, order, list(snapshot.payments))
            jc.session.commit()
        _read_new_refunds(jc, shop, order, snapshot)
        return order
    # The payments are not read here: most orders are never returned, and a read per order event would spend the
    # shop's API budget at its busiest. A return request reads them (_payments_for_return), the refund job again.
    return order


def _payments_for_return(jc: JobContext, shop: Shop, order: Order, transient=()) -> None:
    """A return needs the order's payments (its route, what is left to refund): read them once, if never read.

    A refusal (and, with `transient`, an outage) is logged: the refund job reads the payments again before it
    sends anything, and a return opened meanwhile asks for them again (services.returns.open_return)."""
    if order.payments_synced_at is not None:
        return
    try:
        read_payments(jc, shop, order)  # commits
    except (*REFUSALS, *transient) as e:
        logger.warning("could not read payments: %s", e, extra={"order_id": order.id})
        jc.session.rollback()


def _read_new_refunds(jc: JobContext, shop: Shop, order: Order, snapshot: OrderSnapshot) -> None:
    """The order lists refunds we have not seen (made in the shop's admin): read and record them now.

    The refund job reads the order's refunds again before it pays anything; this
    keeps the order's picture current for the API and the operators meanwhile.
    """
    known = {refund.platform_refund_id for refund in order.shop_refunds}
    if not set(snapshot.refund_ids or ()) - known:
        return
    try:
        found = jc.platform(shop).order_refunds(order.platform_order_id)
    except REFUSALS as e:
        logger.warning("could not read the order's refunds: %s", e, extra={"order_id": order.id})
        return
    for data in found:
        orders.record_shop_refund(jc.session, shop.id, data)
    jc.session.commit()


def _order_for(jc: JobContext, shop: Shop, platform_order_id: str, line_ids=()) -> Order:
    """The order an event refers to; read from the platform when no webhook told us of it (or of these lines).

    Orders placed before Palautus was installed, or whose webhook was lost, would
    otherwise never arrive, and an order edit can add lines a stale snapshot lacks.
    """
    order = orders.order_by_platform_id(jc.session, shop.id, platform_order_id)
    if order is not None and set(line_ids) <= {line.platform_line_id for line in order.lines}:
        return order
    logger.info("reading an order no webhook told us of", extra={"platform_order_id": platform_order_id})
    return on_order(jc, shop, jc.platform(shop).fetch_order(platform_order_id))


def on_shop_refund(jc: JobContext, shop: Shop, data: ShopRefundData) -> None:
    _order_for(jc, shop, data.platform_order_id)
    orders.record_shop_refund(jc.session, shop.id, data)  # made before its customer's erasure: no note
    _erasure(jc, shop, data.platform_order_id)
    jc.session.commit()


def _one_at_a_time(jc: JobContext, shop: Shop) -> None:
    """Start a transaction holding the shop's row: opening a platform's return and noting a status change
    for a return not open yet then run one after another, so neither misses the other (and an order's snapshot
    and a customer's erasure: see privacy.request_redaction)."""
    jc.session.commit()
    lock_row(jc.session, Shop, shop.id)


def on_return_request(jc: JobContext, shop: Shop, data: ReturnRequestData) -> None:
    if returns.return_by_platform_id(jc.ctx, shop, data.platform_return_id):
        return
    order = _order_for(jc, shop, data.platform_order_id, [item.platform_line_id for item in data.items])
    _payments_for_return(jc, shop, order, transient=(ProviderUnavailable,))  # the request is not held up by it
    _one_at_a_time(jc, shop)
    if returns.return_by_platform_id(jc.ctx, shop, data.platform_return_id):
        return  # opened by another worker meanwhile
    if not data.items:
        raise PayloadError("return request has no items")
    if shop_returns.link_request(jc.ctx, shop, order, data):
        return  # the platform's echo of the return Palautus opened there for a portal return: linked, not opened again
    anonymous = _anonymous(jc, shop, order.platform_order_id)
    if anonymous:  # asked before the customer was erased: what they wrote is not stored again
        privacy.scrub_early_statuses(jc.session, shop, data.platform_return_id)
    requests = [
        returns.ItemRequest(i.platform_line_id, i.quantity, i.reason, None if anonymous else i.reason_note,
                            i.platform_item_id)
        for i in data.items
    ]  # fmt: skip
    returns.open_return(
        jc.ctx, shop, order, requests, method=ReturnMethod.POSTAL.value, source=ReturnSource(shop.platform).value,
        actor=Actor.CUSTOMER, platform_return_id=data.platform_return_id,
        customer_note=None if anonymous else data.customer_note,
        now=_happened_at(jc),  # when the platform saw the request, not when we got to it
    )  # fmt: skip


def on_return_status(jc: JobContext, shop: Shop, change: ReturnStatusChange) -> None:
    details = {k: v for k, v in (("reason", change.reason), ("note", change.note)) if v}
    known = returns.return_by_platform_id(jc.ctx, shop, change.platform_return_id)
    if _anonymous(jc, shop, known.order.platform_order_id if known is not None else change.platform_order_id):
        details.pop("note", None)  # written before the customer was erased: not stored again
    target = ReturnStatus(change.status)
    _one_at_a_time(jc, shop)
    if returns.apply_platform_status(jc.ctx, shop, change.platform_return_id, target, _happened_at(jc), **details) is None:
        logger.info("return not open yet: its status is kept for when it opens",
                    extra={"platform_return_id": change.platform_return_id})  # fmt: skip


def on_order_removed(jc: JobContext, shop: Shop, removed: OrderRemoved) -> None:
    """The shop says an order went to its trash: read the order, whose own status and time say where it is
    now (a restore may have come since, and deliveries come in any order)."""
    try:
        snapshot = jc.platform(shop).fetch_order(removed.platform_order_id)
    except ProviderRejected as e:
        if e.status != 404:
            raise
        orders.mark_removed(jc.session, shop.id, removed.platform_order_id, _happened_at(jc) or utcnow())  # deleted for good
        jc.session.commit()
        return
    on_order(jc, shop, snapshot)


def on_uninstalled(jc: JobContext, shop: Shop, change: ShopUninstalled) -> None:
    """The shop removed the app. The platform signs only the body, so a captured app/uninstalled could be sent
    again later: where the platform can say, it is believed only if the app's access is really gone."""
    _same_shop(shop, change.shop_domain)  # a body replayed under another shop's header changes nothing
    checked = jc.credentials(shop).get("access_token")  # the token the check below finds refused, if it does
    believed = True
    try:
        still = getattr(jc.platform(shop), "still_installed", None)
        believed = still is None or not still()
    except (MissingCredentials, GrantRevoked):
        pass  # forgotten already (a disconnect), or the platform will not renew our access: the grant is gone
    if not believed:
        raise_alert(shop, "uninstall", "an app/uninstalled came while the shop still lets Palautus in: ignored "
                    "(a replayed delivery?); nothing was forgotten")  # fmt: skip
        jc.session.commit()
        raise PayloadError("the shop still lets Palautus in: the uninstall is not believed")
    if not uninstall_shop(jc.session, jc.app.extensions["vault"], shop, refused_token=checked):
        raise PayloadError("the shop's access changed while this uninstall was checked (installed again?): "
                           "not believed")  # fmt: skip


def _same_shop(shop: Shop, named: str | None) -> None:
    """A privacy request acts only on the shop its delivery was verified for: a body naming another shop (replayed
    under this one's signature) changes nothing, and its event fails saying so."""
    if named is None:
        return  # the platform names no shop in its bodies: the verified delivery is all there is
    try:
        domain = platform_adapter(shop.platform).normalize_domain(named)
    except InvalidInput:
        domain = None
    if domain != shop.domain:
        raise Conflict(f"the body names the shop {named[:255]!r}, not {shop.domain}, for which the delivery was "
                       "verified: nothing was changed")  # fmt: skip


def on_customer_data_request(jc: JobContext, shop: Shop, request: CustomerDataRequest) -> None:
    """A customer asked for their data: the export is kept on a PrivacyRequest, and the merchant told where."""
    _same_shop(shop, request.shop_domain)
    privacy.request_export(jc.session, shop, source=shop.platform, email=request.customer_email,
                           platform_customer_id=request.platform_customer_id, order_ids=request.platform_order_ids,
                           platform_request_id=request.platform_request_id)  # fmt: skip


def on_customer_redact(jc: JobContext, shop: Shop, request: CustomerRedact) -> None:
    """Erase the customer's personal data (this delivery's own body too: it names them)."""
    _same_shop(shop, request.shop_domain)
    privacy.request_redaction(jc.session, shop, source=shop.platform, email=request.customer_email,
                              platform_customer_id=request.platform_customer_id, order_ids=request.platform_order_ids,
                              current_event_id=jc.event.id if jc.event is not None else None)  # fmt: skip


def on_shop_redact(jc: JobContext, shop: Shop, request: ShopRedact) -> None:
    """Erase the shop's data but the books; refused (the event fails, a failed PrivacyRequest says why) while the
    shop is still installed: the platform asks only after the app was removed."""
    _same_shop(shop, request.shop_domain)
    privacy.request_shop_redaction(jc.session, shop, jc.app.extensions["vault"], source=shop.platform)


def on_refund_money_moved(jc: JobContext, shop: Shop, moved: RefundMoneyMoved) -> None:
    """A gateway answered about a refund's money on this order: ask again now about every refund of ours on
    its way through the platform there (the refund job reads each one's final status; nothing is sent)."""
    order = orders.order_by_platform_id(jc.session, shop.id, moved.platform_order_id)
    if order is None:
        return  # no return of ours can be on it
    waiting = jc.session.scalars(
        select(Refund.id).join(Return).where(Return.order_id == order.id, Refund.route == shop.platform,
                                             Refund.status == RefundStatus.SUBMITTED.value)
    ).all()  # fmt: skip
    if waiting:
        jc.session.execute(update(Refund).where(Refund.id.in_(waiting)).values(next_attempt_at=None))
    jc.session.commit()
    for refund_id in waiting:
        jc.ctx.tasks.push_refund(refund_id)


def on_provider_refund(jc: JobContext, shop: Shop, change: ProviderRefundUpdate) -> None:
    """A payment provider says what became of a refund (a signed webhook or callback: its own word).

    A final word on a refund of ours still on its way ends it (compare-and-set: a
    job recording the same answer meanwhile changes nothing); a word that it is
    still on its way asks the refund job to look now. A failure after the refund
    was booked as paid (a card refund that bounced days later) cannot undo the
    booking: the return's timeline and the shop's alerts say the customer was
    not paid back, for a person to act. A refund Palautus did not make is not its
    to book.
    """
    refund = refunds.refund_for_provider(jc.session, shop, change.provider, change.provider_refund_id, change.idempotency_key)
    if refund is None and change.ours:
        # About a refund of ours that nothing it signed ties to one yet (the job may not have stored the refund's
        # id, or its answer was lost): tried again later, and a person is told which refund it may be.
        raise_alert(shop, f"{change.provider} refund {change.provider_refund_id or change.hint}",
                    f"{change.provider} says refund {change.provider_refund_id or '(no id)'} is {change.provider_status}, "
                    f"and Palautus cannot tie it to a refund of its own yet (its callback URL named {change.hint!r}): "
                    "check the refund at the provider")  # fmt: skip
        jc.session.commit()
        raise OrderNotKnown(f"no refund of this shop matches {change.provider}'s refund {change.provider_refund_id!r} yet")
    if refund is None:
        logger.info("provider refund not made by Palautus", extra={"provider": change.provider})
        return
    extra = {"refund_id": refund.id, "provider_status": change.provider_status}
    if change.provider_refund_id and refund.provider_refund_id and change.provider_refund_id != refund.provider_refund_id:
        # Our key on another of the provider's refunds: the one we know may still pay. Nothing is concluded.
        raise_alert(shop, f"refund {refund.id}", f"{change.provider} reports refund {change.provider_refund_id} under "
                    f"the key of refund {refund.id}, which it made as {refund.provider_refund_id}: check both there")  # fmt: skip
        jc.session.commit()
        logger.error("a provider refund under our key with another id", extra=extra)
        return
    asked = Money(refund.amount, refund.currency)
    final = change.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED)
    if refund.status == RefundStatus.SUBMITTED.value and final and change.amount in (None, asked):
        provider = {"provider_status": change.provider_status[:40]}
        if change.provider_refund_id:
            provider["provider_refund_id"] = change.provider_refund_id
        if change.status == RefundStatus.SUCCEEDED:
            refunds.refund_succeeded(jc.ctx, refund, **provider)
        else:
            reason = change.failure_reason or f"{change.provider_status} at {change.provider}"
            refunds.refund_failed(jc.ctx, refund, reason, only_from=RefundStatus.SUBMITTED, **provider)
        logger.info("refund settled by the provider's word", extra=extra)
    elif refund.status == RefundStatus.SUCCEEDED.value and change.status == RefundStatus.FAILED:
        message = (f"refund {refund.id} ({asked}) failed at {change.provider} after it had succeeded "
                   f"({change.failure_reason or change.provider_status}): the customer was not paid back; refund them again")
        record(jc.ctx, refund.ret, Actor.SYSTEM, "refund_failed_after_success", refund_id=refund.id,
               provider_status=change.provider_status, reason=change.failure_reason)  # fmt: skip
        raise_alert(shop, f"refund {refund.id}", message)
        jc.ctx.commit()
        logger.error("refund failed at the provider after it succeeded", extra=extra)
    elif refund.status == RefundStatus.FAILED.value and change.status == RefundStatus.SUCCEEDED:
        record(jc.ctx, refund.ret, Actor.SYSTEM, "provider_paid_failed_refund", refund_id=refund.id,
               provider_refund_id=change.provider_refund_id)  # fmt: skip
        raise_alert(shop, f"refund {refund.id}", f"refund {refund.id} is failed in Palautus but {change.provider} says it "
                                                 f"paid {change.amount or asked}: check it before refunding again")  # fmt: skip
        jc.ctx.commit()
        logger.error("provider paid a refund Palautus has as failed", extra=extra)
    elif refund.status in (RefundStatus.PENDING.value, RefundStatus.SUBMITTED.value):
        # Still on its way, or an amount not ours: the refund job reads it and decides (a person, if need be).
        jc.session.execute(update(Refund).where(Refund.id == refund.id).values(next_attempt_at=None))
        jc.session.commit()
        jc.ctx.tasks.push_refund(refund.id)


def on_settlement_report(jc: JobContext, shop: Shop, report: SettlementReport) -> None:
    """A settlement the provider sent to our callback (a report jobs/settlements.py asked for): kept as a read
    keeps it, replacing what was kept of it before (a repeat stores the same thing again, never twice)."""
    row = keep(jc.session, shop, report.route, report.settlement)
    jc.session.commit()
    logger.info("settlement report kept", extra={"settlement_row_id": row.id, "route": report.route,
                                                  "movements": len(report.settlement.movements)})  # fmt: skip


def _happened_at(jc: JobContext):
    event = jc.event
    return (event.triggered_at or event.received_at) if event is not None else None


def _erasure(jc: JobContext, shop: Shop, platform_order_id: str | None):
    """When the customer of this order was erased (None: they were not). The delivery being applied is about an
    erased customer then: its body is stubbed once it is done with, like those waiting when they were erased."""
    erased = privacy.order_erased_at(jc.session, shop.id, platform_order_id) if platform_order_id else None
    if erased is not None and jc.event is not None:
        jc.event.erase_body = True
    return erased


def _anonymous(jc: JobContext, shop: Shop, platform_order_id: str | None) -> bool:
    """What this delivery brings that a person wrote (notes) is not to be stored: it waited in the inbox while its
    customer was erased, or it is about an erased order and happened (the platform's time) before the erasure.
    What a customer writes after their erasure is new, and kept."""
    erased = _erasure(jc, shop, platform_order_id)
    if erased is None:  # not an erased order: erased only if it waited while the customer its body names was
        return bool(jc.event is not None and jc.event.erase_body)
    happened = _happened_at(jc)  # a delivery that waited happened before, of course
    return happened is None or happened <= erased


# record type -> handler(jc, shop, record)
HANDLERS = {
    OrderSnapshot: on_order,
    ShopRefundData: on_shop_refund,
    ReturnRequestData: on_return_request,
    ReturnStatusChange: on_return_status,
    ShopUninstalled: on_uninstalled,
    OrderRemoved: on_order_removed,
    RefundMoneyMoved: on_refund_money_moved,
    ProviderRefundUpdate: on_provider_refund,
    CustomerDataRequest: on_customer_data_request,
    CustomerRedact: on_customer_redact,
    ShopRedact: on_shop_redact,
    ProductData: on_product,
    SettlementReport: on_settlement_report,
}


def process_webhook(event_id: int) -> None:
    """Apply one inbox event; repeats of a processed event do nothing."""
    with job_context() as jc:
        event = jc.session.get(WebhookEvent, event_id)
        if event is None or event.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
            return
        if event.attempts >= MAX_ATTEMPTS:
            mark_event(jc.session, event, EventStatus.FAILED, f"gave up after {event.attempts} attempts: {event.error}")
            return
        event.attempts += 1
        jc.session.commit()
        jc.event = event
        _run(jc, event)


def _interpret(event: WebhookEvent):
    """What the delivery means, by who sent it: the shop's platform, or a payment provider (its route)."""
    payload = json.loads(event.body)
    if event.platform in PLATFORMS:
        return platform_adapter(event.platform).interpret(event.topic, payload)
    entry = ROUTES.get(event.platform)
    return entry.interpret(event.topic, payload) if entry is not None and entry.interpret is not None else None


def _run(jc: JobContext, event: WebhookEvent) -> None:
    extra = {"event_id": event.id, "topic": event.topic}
    try:
        change = _interpret(event)
        if change is None:
            logger.info("topic not handled; acknowledged", extra=extra)
            mark_event(jc.session, event, EventStatus.IGNORED)
            return
        shop = jc.session.get(Shop, event.shop_id)
        _names_its_own_shop(shop, event)
        HANDLERS[type(change)](jc, shop, change)
    except (OrderNotKnown, ProviderUnavailable) as e:
        _fail(jc, event, str(e), retry=True)
        logger.warning("event will be retried: %s", e, extra=extra)
        if isinstance(e, ProviderUnavailable):
            respect_retry_after(e)
        raise RetryLater(str(e)) from e
    except (PayloadError, ProviderRejected, PalautusError) as e:
        _fail(jc, event, str(e), retry=False)
        logger.error("event failed: %s", e, extra=extra)
        return
    except Exception as e:  # a bug, or a database hiccup: keep it visible, and let rq retry it
        _fail(jc, event, f"unexpected {type(e).__name__}", retry=True)
        raise
    mark_event(jc.session, event, EventStatus.PROCESSED)
    logger.info("event processed", extra=extra)


def _names_its_own_shop(shop: Shop, event: WebhookEvent) -> None:
    """A platform that signs every shop's deliveries with one app secret cannot tell, at the door, a body captured
    from one shop and sent again under another's header: where the body names its shop, it must be this one."""
    adapter = PLATFORMS.get(event.platform)
    if adapter is not None and adapter.named_shop is not None:
        _same_shop(shop, adapter.named_shop(event.topic, json.loads(event.body)))


def _fail(jc: JobContext, event: WebhookEvent, error: str, retry: bool) -> None:
    # Found to be about an erased customer before it failed (not committed yet): its body still goes.
    erase_body = sa_inspect(event).dict.get("erase_body", False)
    jc.session.rollback()
    event = jc.session.get(WebhookEvent, event.id)
    event.erase_body = event.erase_body or erase_body
    if retry:
        mark_event(jc.session, event, EventStatus.RETRYING, error[:2000], utcnow() + _pause(event.attempts))
    else:
        mark_event(jc.session, event, EventStatus.FAILED, error[:2000])
