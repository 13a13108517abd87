"""The refund fault matrix, for every payment route through one fake-provider shape.

Each route in adapters.payments.ROUTES has a fake in tests.fakes.FAKE_ROUTES that
answers the generic faults (unavailable, rate limited, a request or an answer lost,
an unknown outcome, a refusal, refused reads). Whatever happens, the customer is
paid exactly once, or not at all and the refund says why.
"""
from __future__ import annotations


import pytest
from sqlalchemy import select

from adapters.payments import ROUTES
from integration.models import Refund
from jobs.sweep import sweep
from tests.conftest import payload
from tests.fakes import FAKE_ROUTES
from tests.jobs.helpers import AMOUNT, ORDER, RETURN_REQUEST, approve_and_receive, later, refund_of


@pytest.fixture(params=sorted(FAKE_ROUTES))
def provider(request, http):
    return FAKE_ROUTES[request.param](http)


def received_return(client, shop, post_webhook, work, shopify, provider, db) -> Refund:
    shopify.transactions = [provider.sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")
    work()
    from integration.models import Return

    ret = db.scalar(select(Return))
    approve_and_receive(client, shop[1], ret.id)
    work()
    return refund_of(db)


def test_every_payment_route_has_a_fake_for_the_matrix():
    assert set(FAKE_ROUTES) == set(ROUTES)


@pytest.mark.parametrize("faults", [
    ["unavailable"], ["rate_limited"], ["lost_request"], ["lost_answer"], ["unavailable", "lost_answer"],
])  # fmt: skip
def test_a_transient_failure_is_retried_with_the_same_key_and_pays_exactly_once(
    client, shop, post_webhook, work, shopify, provider, db, faults
):
    provider.fail_next(*faults)
    refund = received_return(client, shop, post_webhook, work, shopify, provider, db)
    assert refund.status == "succeeded"
    assert len(provider.refunds) == 1 and provider.money_moved == AMOUNT
    keys = {headers["Idempotency-Key"] for headers, _ in provider.posts}
    # One key for every attempt; after a 5xx a lookup by key may find the refund without sending again.
    assert len(keys) == 1 and 2 <= len(provider.posts) <= len(faults) + 1


@pytest.mark.parametrize("fault", ["unknown_outcome", "saved_failure"])
def test_an_unknown_outcome_is_looked_up_before_anything_is_sent_again_and_never_failed(
    client, shop, post_webhook, work, shopify, provider, db, fault
):
    provider.fail_next(fault)
    refund = received_return(client, shop, post_webhook, work, shopify, provider, db)
    assert (refund.status, refund.needs_lookup) == ("submitted", True)
    later(db)
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status in ("submitted", "succeeded")  # never failed while the provider may hold it
    assert provider.money_moved in (0, AMOUNT) and len(provider.refunds) <= 1


def test_a_refusal_of_a_first_request_fails_the_refund_with_the_provider_s_reason_and_moves_nothing(
    client, shop, post_webhook, work, shopify, provider, db
):
    provider.fail_next("refused")
    refund = received_return(client, shop, post_webhook, work, shopify, provider, db)
    assert refund.status == "failed" and refund.last_error
    assert provider.money_moved == 0


def test_a_refund_the_provider_works_on_is_polled_and_a_refused_read_never_fails_it(
    client, shop, post_webhook, work, shopify, provider, db
):
    provider.status = "pending"
    assert received_return(client, shop, post_webhook, work, shopify, provider, db).status == "submitted"
    provider.fail_reads(401)
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "submitted"
    provider.settle("succeeded")
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "succeeded" and provider.money_moved == AMOUNT and len(provider.posts) == 1


def test_a_refund_the_provider_fails_in_the_end_is_failed_and_can_be_started_again_under_a_new_key(
    client, shop, post_webhook, work, shopify, provider, db
):
    provider.status = "pending"
    received_return(client, shop, post_webhook, work, shopify, provider, db)
    provider.settle("failed")
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "failed" and provider.money_moved == 0
