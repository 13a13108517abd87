"""The refund fault matrix, for every payment route through one fake-provider shape.

Every route a refund can take runs it: each direct route in adapters.payments.ROUTES
(its fake in tests.fakes.FAKE_ROUTES) and each platform's own gateway (the shop's
fake, seen through the same shape). The fakes answer the generic faults
(unavailable, rate limited, a request or an answer lost, an unknown outcome, a
refusal, refused reads). Whatever happens, the customer is paid exactly once, or
not at all and the refund says why.
"""
from __future__ import annotations

import pytest

from adapters.payments import ROUTES
from adapters.platforms import PLATFORMS
from integration.models import Refund
from jobs.sweep import sweep
from tests.jobs.helpers import later, refund_of
from tests.jobs.scenarios import SCENARIOS


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": "https://palautus.example"}  # where providers that answer later call back


@pytest.fixture(params=sorted(SCENARIOS))
def route(request):
    """One route's scenario: `fake` (the fake-provider shape) and `received_return()` (the refund's first run)."""
    return SCENARIOS[request.param](request)


def keys_sent(fake) -> set[str]:
    key_header = getattr(fake, "key_header", None)
    return {headers[key_header] for headers, _ in fake.posts} if key_header else fake.keys_sent()


def test_every_payment_route_and_every_platform_s_gateway_runs_the_matrix():
    gateways = {name for name, adapter in PLATFORMS.items() if adapter.gateway is not None}
    assert set(SCENARIOS) == set(ROUTES) | gateways


@pytest.mark.parametrize("faults", [
    ["unavailable"], ["rate_limited"], ["lost_request"], ["lost_answer"], ["unavailable", "lost_answer"],
])  # fmt: skip
def test_a_transient_failure_is_retried_with_the_same_key_and_pays_exactly_once(
    route, db, work, faults
):
    route.fake.fail_next(*faults)
    refund = route.received_return()
    if refund.status == "submitted":  # held after an open outcome (a route without a key waits before resending)
        later(db)
        sweep()
        work()
        refund = refund_of(db)
    if not route.resends_after_unknown and route.fake.money_moved == 0:
        # Paytrail: nothing replays a request whose outcome was left open, so it is never sent again. Held
        # (never failed) for a person to check at the provider; whatever else happens, nothing moves twice.
        assert (refund.status, refund.needs_lookup, len(route.fake.posts)) == ("submitted", True, 1)
        assert route.fake.refunds == {} or all(r.get("status") != "ok" for r in route.fake.refunds.values())
        return
    assert refund.status == "succeeded"
    assert len(route.fake.refunds) == 1 and route.fake.money_moved == route.amount
    # One key for every attempt; after a lost answer or a 5xx a lookup by key may find the refund without
    # sending again (routes whose keys are short-lived or unknown do that first).
    assert len(keys_sent(route.fake)) == 1 and 1 <= len(route.fake.posts) <= len(faults) + 1


@pytest.mark.parametrize("fault", ["unknown_outcome", "saved_failure"])
def test_an_unknown_outcome_is_looked_up_before_anything_is_sent_again_and_never_failed(
    route, db, work, fault
):
    route.fake.fail_next(fault)
    refund = route.received_return()
    # Never failed while the provider may hold it; still unknown, it is looked up before anything is sent again.
    assert refund.status in ("submitted", "succeeded") and (refund.status == "succeeded" or refund.needs_lookup)
    later(db)
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status in ("submitted", "succeeded")  # never failed while the provider may hold it
    assert route.fake.money_moved in (0, route.amount) and len(route.fake.refunds) <= 1


def test_a_refusal_of_a_first_request_fails_the_refund_with_the_provider_s_reason_and_moves_nothing(
    route, db, work
):
    route.fake.fail_next("refused")
    refund = route.received_return()
    assert refund.status == "failed" and refund.last_error
    assert route.fake.money_moved == 0


def test_a_refund_the_provider_works_on_is_polled_and_a_refused_read_never_fails_it(
    route, db, work
):
    route.needs_pending()
    route.fake.status = "pending"
    assert route.received_return().status == "submitted"
    route.fake.fail_reads(401)
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "submitted"
    route.fake.settle("succeeded")
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "succeeded" and route.fake.money_moved == route.amount and len(route.fake.posts) == 1


def test_a_refund_the_provider_fails_in_the_end_is_failed_and_can_be_started_again_under_a_new_key(
    route, db, work
):
    route.needs_pending()
    route.fake.status = "pending"
    route.received_return()
    route.fake.settle("failed")
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "failed" and route.fake.money_moved == 0


# --- what else can happen meanwhile, for every route ----------------------------------------------------------


def test_the_same_refund_job_queued_twice_sends_once(route, db, work, app):
    refund = route.received_return(run=False)
    app.extensions["tasks"].push_refund(refund.id)  # a duplicate on the queue (an rq retry and the sweeper, say)
    work()
    refund = refund_of(db)
    assert len(route.fake.posts) == 1 and len(route.fake.refunds) <= 1
    assert refund.status in ("submitted", "succeeded") and route.fake.money_moved in (0, route.amount)


def test_redis_flushed_while_the_refund_is_queued_loses_nothing_and_the_sweeper_sends_it_once(route, db, work, redis):
    route.received_return(run=False)
    redis.flushdb()  # the queue is gone; the Refund row, committed first, is the promise
    work()
    assert route.fake.posts == [] or route.fake.posts == {}
    later(db)
    assert sweep()["refunds"] == 1
    work()
    refund = refund_of(db)
    assert len(route.fake.posts) == 1 and refund.status in ("submitted", "succeeded")
    assert route.fake.money_moved in (0, route.amount) and len(route.fake.refunds) <= 1


def test_a_worker_that_dies_after_the_provider_took_the_refund_leaves_one_refund_that_the_sweeper_completes(
    route, db, work, monkeypatch
):
    from jobs import refunds as refund_job

    real = refund_job._record

    def dies(*args, **kwargs):  # killed between the provider's answer and the row's update: the claim stays
        monkeypatch.setattr(refund_job, "_record", real)
        raise SystemExit("worker killed")

    monkeypatch.setattr(refund_job, "_record", dies)
    try:
        route.received_return()
    except SystemExit:
        pass
    later(db)
    db.query(Refund).update({Refund.claimed_until: None})  # its lease ran out
    db.commit()
    sweep()
    work()
    refund = refund_of(db)
    assert len(route.fake.refunds) == 1 and route.fake.money_moved == route.amount
    assert refund.status == "succeeded"


def test_a_refund_made_in_the_shop_s_admin_after_ours_was_planned_stops_ours_before_anything_is_sent(route, db, work):
    route.received_return(meanwhile=route.refund_the_sweater_in_the_admin)
    refund = refund_of(db)
    assert refund.status == "failed" and "nothing was sent" in refund.last_error
    assert route.fake.money_moved == 0 and not route.fake.posts
