"""push_refund: pay a Refund back through the route that took the money, exactly once.

The Refund row was committed before this job was enqueued. The job claims it
(a lease, so two runs never call the provider at once). While the refund is
still pending it reads the order's payments afresh and plans again: a return
cancelled, items the shop refunded meanwhile, or a payment that cannot pay
everything owed stop it before anything is sent. Then it marks the refund
submitted (compare-and-set, which also sees a cancel that committed first) and
calls the route with the row's own idempotency key: a retry after a timeout, a
crash or a lost queue sends the same request, and the provider answers with the
refund it already made.

Once a refund may be with the provider, only the provider's own final status
fails it. A refusal on a read (polling, the lookup by key), missing credentials
or an answer that leaves the outcome unknown keep it as it is, with the error
shown, for the sweeper to try again after a pause.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from sqlalchemy import case, func, update
from sqlalchemy.exc import IntegrityError

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, ProviderRefund, RefundLine, RefundRequest
from integration.db import lock_row
from integration.errors import InvalidInput, MissingCredentials
from integration.models import Order, OrderLine, Payment, Refund, Shop, utcnow
from integration.money import Money
from integration.policy import ReturnPolicy
from integration.refunds import RefundStatus, note_reference
from integration.returns import Actor, ReturnStatus
from integration.services import ledger, orders, withdrawals
from integration.services.delivery import NoPublicUrl, delivery_url
from integration.services import refunds as book
from integration.services.timeline import record
from jobs.backoff import respect_retry_after
from jobs.context import JobContext, job_context
from jobs.events import read_payments

__all__ = ["push_refund", "record_shop_refund", "LEASE_SECONDS"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 180  # longer than any provider call can take
# How long a pending refund waits for the order's payments and refunds to be read, and to explain the
# refunded money the platform shows, before it fails with nothing sent.
UNEXPLAINED_LIMIT = timedelta(hours=12)
R = RefundStatus
_ON_ITS_WAY = (R.PENDING.value, R.SUBMITTED.value)


class _Held(Exception):
    """The refund stays as it is (the provider may hold it, or we could not look): tried again after a pause.

    `waiting`: it waits for the shop's side to be read or explained; the wait is timed (UNEXPLAINED_LIMIT).
    """

    def __init__(self, error: Exception | str, lookup: bool = False, waiting: bool = False):
        super().__init__(str(error))
        self.lookup, self.waiting = lookup, waiting


class _Stop(Exception):
    """The refund must not be paid as it stands: it fails with this reason.

    `only_from`: the status it may fail from (PENDING when nothing was sent).
    """

    def __init__(self, reason: str, only_from: RefundStatus | None = None):
        super().__init__(reason)
        self.only_from = only_from


def push_refund(refund_id: int) -> None:
    """Send one refund to its route and record the answer; safe to run any number of times."""
    with job_context() as jc:
        refund = book.claim_refund(jc.session, refund_id, LEASE_SECONDS)
        if refund is None:
            logger.info("refund finished or held by another run", extra={"refund_id": refund_id})
            return
        # The claim's fence: every write of this run is conditional on no other run having claimed since.
        fence, ids = refund.attempts, {"refund_id": refund_id}
        try:
            _perform(jc, refund, fence)
        except ProviderUnavailable as e:
            _keep(jc, refund, fence, e, lookup=getattr(e, "lookup", False))
            logger.warning("refund will be retried: %s", e, extra=ids)
            respect_retry_after(e)
            raise
        except _Held as e:
            _keep(jc, refund, fence, e, lookup=e.lookup, waiting=e.waiting)
            logger.error("refund held: %s", e, extra=ids)
        except _Stop as e:
            jc.session.rollback()
            book.refund_failed(jc.ctx, refund, str(e), fence, only_from=e.only_from)
            logger.error("refund failed: %s", e, extra=ids)


def _keep(jc: JobContext, refund: Refund, fence: int, error: Exception, lookup: bool, waiting: bool = False) -> None:
    """Leave the refund where it is, with the error shown; the sweeper picks it up after a growing pause."""
    jc.session.rollback()
    lookup_now = case((Refund.status == R.SUBMITTED.value, True), else_=Refund.needs_lookup) if lookup else Refund.needs_lookup
    # A hold for another reason (an outage, say) ends the wait: after it, the wait's clock starts again.
    since = func.coalesce(Refund.waiting_since, utcnow()) if waiting else None
    # Only while it is still on its way: a provider's word that ended it meanwhile (a webhook) stands as it is.
    book.update_held(jc.session, refund, fence, Refund.status.in_(_ON_ITS_WAY), last_error=str(error)[:2000],
                     needs_lookup=lookup_now, claimed_until=None, next_attempt_at=utcnow() + _pause(fence),
                     waiting_since=since)  # fmt: skip


def _pause(attempts: int) -> timedelta:
    """How long the sweeper leaves a refund to rq's retries after a failed attempt: growing, at most an hour."""
    return min(timedelta(seconds=30 * 2 ** min(attempts, 10)), timedelta(hours=1))


def _perform(jc: JobContext, refund: Refund, fence: int) -> None:
    shop = jc.session.get(Shop, refund.ret.shop_id)
    sent_before = refund.first_submitted_at is not None  # read at the claim: no other run has sent since
    if refund.status == R.PENDING.value:
        route, payment = _prepare(jc, shop, refund, fence)
        if route is None:
            logger.info("refund withdrawn, its return cancelled, or its claim lost before it was sent",
                        extra={"refund_id": refund.id})  # fmt: skip
            return
    else:
        payment = refund.payment
        route = _route(jc, shop, refund, refund.route or refund.provider)
        if not book.mark_submitted(jc.session, refund, fence):  # still ours to send?
            return
    request = _request(jc, shop, refund, payment)
    try:
        _send(jc, refund, route, request, fence, sent_before)
    except ProviderUnavailable as e:
        # E.g. Stripe saves a 5xx once it began executing and replays it for the key: once sent,
        # such a refund is looked up by its key before anything is sent again.
        e.lookup = route.outcome_unknown(e)
        raise


def _route(jc: JobContext, shop: Shop, refund: Refund, name: str | None):
    try:
        return jc.route(shop, name or "")
    except MissingCredentials as e:
        if refund.first_submitted_at is None:
            raise _Stop(e.message, only_from=R.PENDING) from None
        raise _Held(e) from None  # it may be with the provider: never failed for want of a key to ask


def _send(jc: JobContext, refund: Refund, route, request: RefundRequest, fence: int, sent_before: bool) -> None:
    if refund.provider_refund_id:  # the provider took it earlier; ask how it went
        return _record(jc, refund, _read(route.get_refund, refund.provider_refund_id), fence)
    lifetime = route.key_lifetime
    expired = sent_before and lifetime is not None and utcnow() - refund.first_submitted_at > lifetime
    if refund.needs_lookup or expired:
        found = _read(route.find_refund, request)
        if found:
            return _record(jc, refund, found, fence)
    # A route without an idempotency key (WooCommerce) cannot tell a refund still being made from none: any
    # earlier send whose answer was not recorded (lost, or its worker died) may still be running, so it sends
    # again only once the last request must have ended either way.
    wait = getattr(route, "resend_after", None)
    if wait is not None and sent_before and refund.last_sent_at is not None and utcnow() - refund.last_sent_at < wait:
        raise _Held("an earlier request for the refund got no answer, and the store may still be making it: looked "
                    "for again before anything is sent again", lookup=True)  # fmt: skip
    if wait is not None and not book.update_held(jc.session, refund, fence, last_sent_at=utcnow()):
        return  # another run claimed it meanwhile
    try:
        result = route.refund(request)
    except ProviderRejected as e:
        # A refusal now says nothing of an earlier attempt that may have gone through, and an
        # answer that leaves the outcome open says nothing of this one: look either up by key.
        unknown = route.outcome_unknown(e)
        found = _read(route.find_refund, request) if sent_before or unknown else None
        if found is None and unknown:
            raise _Held(e, lookup=True) from e
        if found is None:
            raise _Stop(str(e)) from e
        result = found
    return _record(jc, refund, result, fence)


def _read(call, *args):
    """A call that only reads: a refusal means we could not look, never that the refund failed."""
    try:
        return call(*args)
    except (ProviderRejected, MissingCredentials) as e:
        raise _Held(e) from e


# --- before anything is sent: read the payments afresh and plan again, under the order's lock ------


def _prepare(jc: JobContext, shop: Shop, refund: Refund, fence: int):
    """Plan the pending refund again on fresh payments and mark it submitted, in one locked transaction.

    The order's row lock runs the plans of one order one after another: two refunds
    of one order can never both take its shipping, nor both count one admin refund.
    Returns (route, payment), or (None, None) when it is no longer this run's to send.
    """
    ret = refund.ret
    if ret.status == ReturnStatus.CANCELLED.value:
        raise _Stop(f"the return was {ret.status} before the refund was sent", only_from=R.PENDING)
    if shop.uninstalled_at is not None:
        raise _Stop("the shop uninstalled Palautus before the refund was sent: refund it in the shop's admin. "
                    "Nothing was sent.", only_from=R.PENDING)  # fmt: skip
    try:
        read_payments(jc, shop, ret.order)  # captures and order edits change them
        jc.session.commit()
    except (ProviderRejected, ProviderMalformed, MissingCredentials) as e:
        jc.session.rollback()
        _wait_or_stop(refund, f"the order's payments cannot be read from the shop ({e})")
    _reconcile(jc, shop, refund)
    _renew_now(jc, shop, refund)
    # The transaction's first statements: all read below is read under them. The shop's row, shared: an uninstall
    # (which locks it to forget the tokens) comes either before this decision, and is seen, or after the refund
    # is marked submitted, and then follows it. Shop before order, as the webhook jobs take them.
    lock_row(jc.session, Shop, shop.id, shared=True)
    lock_row(jc.session, Order, ret.order_id)
    jc.session.expire_all()
    if shop.uninstalled_at is not None:
        raise _Stop("the shop uninstalled Palautus before the refund was sent: refund it in the shop's admin. "
                    "Nothing was sent.", only_from=R.PENDING)  # fmt: skip
    plan, payment, name = _plan(jc, shop, refund)
    route = _route(jc, shop, refund, name)
    if not _replan(jc, refund, plan, payment, name, fence) or not book.mark_submitted(jc.session, refund, fence):
        jc.session.rollback()  # lets the order go; mark_submitted commits it otherwise
        return None, None
    return route, payment


def _renew_now(jc: JobContext, shop: Shop, refund: Refund) -> None:
    """Renew the shop's platform token now if it is due, not under the locks below: a renewal takes the shop's row
    in a session of its own, which would wait for this job's own shared hold on it."""
    try:
        jc.platform(shop)
    except MissingCredentials:
        pass  # no platform access: the route chosen below says what that means for this refund
    except (ProviderRejected, ProviderMalformed) as e:
        jc.session.rollback()
        _wait_or_stop(refund, f"the shop's access to its platform cannot be renewed ({e})")
    jc.session.commit()


def _reconcile(jc: JobContext, shop: Shop, refund: Refund) -> None:
    """Bring the order's shop refunds up to date with the platform before planning; hold while they can't be.

    Read every time, not only when money looks unexplained: an admin refund whose
    webhook is still on its way may have moved no money through the platform (paid
    back at the provider, to store credit) or have its money still pending, and only
    its lines say which items it settled. Refunded money the platform shows that the
    shop refunds still don't explain holds the refund too; after UNEXPLAINED_LIMIT
    it fails, naming the amount, with nothing sent.
    """
    order = refund.ret.order
    try:
        platform = jc.platform(shop)
        listed = set()
        for data in platform.order_refunds(order.platform_order_id):
            record_shop_refund(jc, shop, data)
            listed.add(data.platform_refund_id)
        jc.session.expire(order, ["shop_refunds"])
        _forget_cancelled(jc, platform, order, listed)
    except (ProviderRejected, ProviderMalformed, MissingCredentials) as e:
        jc.session.rollback()
        _wait_or_stop(refund, f"the order's refunds cannot be read from the shop ({e})")
    jc.session.expire(order, ["shop_refunds"])
    if ledger.incomplete_shop_refunds(order):
        _wait_or_stop(refund, "a refund made in the shop has items Palautus cannot tell (more lines than it can read, or money beyond its items)")
    unseen = ledger.unseen_refunds(order)
    if unseen:
        _wait_or_stop(refund, f"the shop's platform shows {Money(unseen, order.currency)} refunded from this order's "
                              "payments that no refund Palautus knows of explains")  # fmt: skip


def _forget_cancelled(jc: JobContext, platform, order: Order, listed: set[str]) -> None:
    """A shop refund still on its way at the gateway (shown at 0) that the shop no longer lists never paid if its
    gateway cancelled it (the platform says so): its pending money stops counting. One deleted by hand may still
    pay, so it keeps counting, and refunds of the order wait for a person."""
    cancelled = getattr(platform, "refund_cancelled", None)
    gone = [row for row in order.shop_refunds if row.refund_id is None and (row.pending or 0) > 0 and not row.amount
            and row.platform_refund_id not in listed]  # fmt: skip
    for row in gone:
        if cancelled is not None and cancelled(order.platform_order_id, row.platform_refund_id, row.note):
            row.pending = 0
    if gone:
        jc.session.commit()


def record_shop_refund(jc: JobContext, shop: Shop, data) -> None:
    """Record a refund the shop made itself, committed; the row its webhook's job wrote meanwhile is updated."""
    try:
        orders.record_shop_refund(jc.session, shop.id, data)
        jc.session.commit()
    except IntegrityError:  # its webhook's job wrote it a moment ago: update that row instead
        jc.session.rollback()
        orders.record_shop_refund(jc.session, shop.id, data)
        jc.session.commit()


def _wait_or_stop(refund: Refund, reason: str) -> None:
    """Hold the pending refund while the shop's side can't be read or explained; after UNEXPLAINED_LIMIT of
    waiting (counted from its first such hold, not from when it was started) fail it, nothing sent."""
    if refund.waiting_since is not None and utcnow() - refund.waiting_since > UNEXPLAINED_LIMIT:
        raise _Stop(f"{reason}; refund it in the shop's admin. Nothing was sent.", only_from=R.PENDING)
    raise _Held(f"{reason}; the refund waits", waiting=True)


def _plan(jc: JobContext, shop: Shop, refund: Refund):
    ret, routes = refund.ret, jc.ctx.routes_for(shop)
    try:
        policy = ReturnPolicy.from_dict(refund.policy or shop.policy)  # the policy the refund was started under
        plan, payment = ledger.plan_for(jc.session, ret, policy, routes, refund)
    except InvalidInput as e:
        raise _Stop(e.message, only_from=R.PENDING) from None
    planned = {line.return_item_id: line.quantity for line in plan.lines}
    if any(line["quantity"] > planned.get(line["return_item_id"], 0) for line in refund.lines):
        raise _Stop("the shop has refunded some of these items since this refund was planned; nothing was sent",
                    only_from=R.PENDING)  # fmt: skip
    if payment is None:
        raise _Stop(_no_payment_reason(ret.order, routes), only_from=R.PENDING)
    left = ledger.order_left(jc.session, ret.order, refund)
    if plan.amount > left:
        raise _Stop(f"{Money(plan.amount, ret.order.currency)} is more than the {Money(max(left, 0), ret.order.currency)} "
                    "the order's payments have left after every refund, the shop's included; nothing was sent",
                    only_from=R.PENDING)  # fmt: skip
    unattributed = ledger.money_without_items(ret)
    if unattributed:
        raise _Stop(f"the shop refunded {Money(unattributed, ret.order.currency)} of this order by amount, naming no "
                    "items: it may be this return's money, so Palautus sends nothing; refund what is still owed in "
                    "the shop's admin", only_from=R.PENDING)  # fmt: skip
    # A cancellation before delivery is owed what the payments took (the rest was only authorized, and is
    # released): its plan, capped, is paid when it takes all they have left. Any other capped plan is not sent.
    if plan.capped and not (plan.amount >= left and withdrawals.refunds_what_was_taken(jc.session, ret)):
        raise _Stop(ledger.unpaid_reason(jc.session, plan, payment, routes, refund), only_from=R.PENDING)
    name = routes.route_of(payment)
    problem = _unsendable(payment, refund, direct=name != routes.platform)
    if problem:
        raise _Stop(problem, only_from=R.PENDING)
    return plan, payment, name


def _no_payment_reason(order, routes) -> str:
    if not order.payments:
        return "the order has no captured payment to refund"
    reasons = sorted({routes.why_not(p) for p in order.payments})
    return f"no route can refund the order's payments: it was paid through {'; '.join(reasons)}. Nothing was sent."


def _unsendable(payment: Payment, refund: Refund, direct: bool) -> str | None:
    if payment.currency != refund.currency:
        return f"the payment is in {payment.currency}, the refund in {refund.currency}"
    if direct and not payment.payment_id:  # the platform's gateway knows its payment by the platform's transaction
        return f"the {payment.provider} payment has no payment id to refund"
    return None


def _replan(jc: JobContext, refund: Refund, plan, payment: Payment, route: str, fence: int) -> bool:
    """Write the fresh plan on the row (it has not been sent, so it may still change); not committed.
    False when the refund is no longer pending and this run's (a cancel, another run, came first).

    The refund row is written before the return's (the timeline): every writer takes
    refunds before returns, as a cancel does, so the two never wait on each other.
    """
    before, ret = refund.amount, refund.ret
    result = jc.session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.status == R.PENDING.value, book.held_by(fence))
        .values(payment_id=payment.id, provider=payment.provider, route=route, parts=book.parts_json(plan.parts),
                amount=plan.amount, tax=plan.tax, vat=plan.vat,
                waiting_since=None,
                fees=plan.fees, shipping=plan.shipping, lines=[book.line_json(line) for line in plan.lines if line.quantity],
                shipping_tax=plan.shipping_tax, shipping_tax_rate=plan.shipping_rate)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    jc.session.expire(refund)
    if result.rowcount != 1:
        return False
    if plan.amount != before:
        record(jc.ctx, ret, Actor.SYSTEM, "refund_replanned", refund_id=refund.id, amount_before=before,
               amount=plan.amount)  # fmt: skip
    return True


def _request(jc: JobContext, shop: Shop, refund: Refund, payment: Payment) -> RefundRequest:
    """The request every attempt of this refund sends: built from the row alone, so a retry sends the same."""
    ret, order = refund.ret, refund.ret.order
    restock = {item.id: bool(item.restock) for item in ret.items}
    listed, shipping_listed = _listed_by_failed(ret, refund) if refund.route == shop.platform else (Counter(), False)
    lines = []
    for line in refund.lines:
        order_line = jc.session.get(OrderLine, line["order_line_id"])
        already = min(line["quantity"], listed[order_line.platform_line_id])
        listed[order_line.platform_line_id] -= already
        lines.append(RefundLine(
            reference=order_line.platform_line_id, title=order_line.title, sku=order_line.sku,
            quantity=line["quantity"], amount=line["amount"], tax=line["tax"], tax_rate=line["tax_rate"],
            restock=restock.get(line.get("return_item_id"), False), listed=already,
        ))  # fmt: skip
    amount = Money(refund.amount, refund.currency)
    ref = lambda row: PaymentRef(row.provider, row.payment_id, row.platform_transaction_id, order.name, row.gateway,  # noqa: E731
                                 order.platform_order_id, row.kind)  # fmt: skip
    rows = {row.id: row for row in order.payments}
    parts = tuple((ref(rows[part["payment_id"]]), Money(part["amount"], refund.currency)) for part in refund.parts or ())
    return RefundRequest(
        payment=ref(payment), parts=parts,
        amount=amount, idempotency_key=refund.idempotency_key, lines=tuple(lines), email=order.email,
        metadata={"return_code": ret.code, "refund_id": str(refund.id), "order": order.name, "shop": shop.domain},
        note=f"Palautus return {ret.code}: {amount} refunded. {note_reference(refund.idempotency_key)}",
        shipping=refund.shipping, shipping_tax=order.shipping_tax if refund.shipping else 0, tax=refund.tax,
        platform_return_id=ret.platform_return_id, callback_url=_callback_url(jc, shop, refund.route),
        shipping_listed=bool(refund.shipping) and shipping_listed,
    )  # fmt: skip


def _listed_by_failed(ret, refund: Refund) -> tuple[Counter, bool]:
    """Units per platform line, and whether the shipping, that the shop lists as refunded on this return's earlier
    refunds through its own gateway that failed there: Shopify keeps a refund's items and shipping when its
    payments app refuses the money, and refuses to refund them again."""
    failed = {r.id for r in ret.refunds if r is not refund and r.status == R.FAILED.value and r.route == refund.route}
    units: Counter = Counter()
    shipping = False
    for shop_refund in ret.order.shop_refunds:
        if shop_refund.refund_id in failed:
            shipping = shipping or bool(shop_refund.shipping_refunded)
            for line in shop_refund.lines:
                units[line["platform_line_id"]] += line["quantity"]
    return units, shipping


def _callback_url(jc: JobContext, shop: Shop, route: str | None) -> str | None:
    """Where the route's provider reports this shop's refunds later (Paytrail's callbacks); None without PUBLIC_URL."""
    try:
        return delivery_url(jc.app.config, shop, f"payments/{route}/{{key}}") if route else None
    except NoPublicUrl:
        return None


def _record(jc: JobContext, refund: Refund, result: ProviderRefund, fence: int) -> None:
    provider = {"provider_refund_id": result.provider_refund_id, "provider_status": result.provider_status}
    asked = Money(refund.amount, refund.currency)
    if result.amount != asked:  # never book a different amount as the refund: a person must look
        book.update_held(jc.session, refund, fence, needs_lookup=False, **provider)
        raise _Held(f"the provider's refund {result.provider_refund_id} is {result.amount}, not {asked}: check it there")
    if result.status == R.SUCCEEDED:
        book.refund_succeeded(jc.ctx, refund, fence, **provider)
    elif result.status == R.FAILED:
        reason = result.failure_reason or f"{result.provider_status} at the provider"
        book.refund_failed(jc.ctx, refund, reason, fence, **provider)
    else:  # accepted, still in progress at the provider: the sweeper asks again (unless its final word came meanwhile)
        book.update_held(jc.session, refund, fence, Refund.status == R.SUBMITTED.value, claimed_until=None,
                         last_error=None, needs_lookup=False, **provider)  # fmt: skip
    logger.info("refund %s", refund.status, extra={"refund_id": refund.id, "provider_refund_id": result.provider_refund_id})
