"""A provider's Retry-After is honoured before rq's next attempt, within a cap."""
from adapters.errors import ProviderUnavailable
from jobs.backoff import MAX_WAIT_SECONDS, respect_retry_after


def test_the_wait_a_provider_asks_for_is_slept_and_a_long_one_is_capped(slept):
    assert respect_retry_after(ProviderUnavailable("slow down", provider="shopify", status=429, retry_after=2.5)) == 2.5
    assert respect_retry_after(ProviderUnavailable("slow down", provider="stripe", status=429, retry_after=600)) == MAX_WAIT_SECONDS
    assert respect_retry_after(ProviderUnavailable("down", provider="stripe", status=503)) == 0
    assert slept == [2.5, MAX_WAIT_SECONDS]


def test_a_stripe_429_makes_the_refund_job_wait_before_its_retry(client, shop, post_webhook, work, shopify, http, db, slept):
    from tests.fakes import FakeStripe
    from tests.jobs.helpers import approve_and_receive, shopify_return

    ret = shopify_return(post_webhook, work, shopify, db)
    http.add("POST", "https://api.stripe.com/v1/refunds", status=429, headers={"Retry-After": "7"},
             json={"error": {"type": "rate_limit_error", "message": "Too many requests"}})
    stripe = FakeStripe(http)  # answers once the canned 429 is used up
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert 7.0 in slept
    assert len(stripe.refunds) == 1
