"""Once a refund may be with the provider, only the provider's own final word fails it.

A refusal on a read (polling, the lookup by key), missing credentials, or an
answer that leaves the outcome unknown keep the refund submitted, with the error
shown; a merchant's retry can then never create a second refund.
"""
from __future__ import annotations



from integration.models import Shop
from integration.services.shops import replace_credentials
from jobs.sweep import sweep
from tests.conftest import auth
from tests.jobs.helpers import AMOUNT, approve_and_receive, later, refund_of, shopify_return


def test_a_rotated_key_while_stripe_works_on_the_refund_keeps_it_submitted_until_the_new_key_reads_it(
    app, client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.status = "pending"
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert refund_of(db).status == "submitted"

    stripe.read_faults = [401]  # the merchant rolled their Stripe key; ours is dead
    later(db)
    assert sweep()["refunds"] == 1
    work()
    refund = refund_of(db)
    assert refund.status == "submitted" and "HTTP 401" in refund.last_error
    assert "sk_test_51" not in refund.last_error
    again = client.post(f"/api/v1/returns/{ret.id}/refund", headers=auth(shop[1]))
    assert again.status_code == 409  # still under way: no second refund under a new key

    with app.extensions["db"].session() as session:  # the operator puts the new key in
        replace_credentials(session, app.extensions["vault"], session.get(Shop, shop[0].id),
                            {"payments": {"stripe": {"secret_key": "sk_test_rotated"}}})  # fmt: skip
    stripe.refunds["re_0001"]["status"] = "succeeded"
    later(db)
    assert sweep()["refunds"] == 1
    work()
    assert refund_of(db).status == "succeeded"
    assert len(stripe.posts) == 1 and stripe.money_moved == AMOUNT


def test_a_5xx_stripe_says_not_to_retry_leaves_the_outcome_unknown_and_the_refund_is_looked_up_not_failed(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.faults = ["500_do_not_retry"]
    approve_and_receive(client, shop[1], ret.id)
    work()
    refund = refund_of(db)
    assert (refund.status, refund.needs_lookup) == ("submitted", True)
    assert "HTTP 500" in refund.last_error

    later(db)
    sweep()
    work()
    assert refund_of(db).status == "succeeded"
    keys = {headers["Idempotency-Key"] for headers, _ in stripe.posts}
    assert len(stripe.posts) == 2 and len(keys) == 1  # looked up first, then the same request again
    assert stripe.money_moved == AMOUNT


def test_a_refusal_of_the_lookup_by_key_keeps_the_refund_submitted_with_the_error(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.faults = ["500_saved"]  # saved by Stripe and replayed: the outcome is unknown
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert refund_of(db).needs_lookup

    stripe.read_faults = [403]
    later(db)
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status == "submitted" and refund.needs_lookup and "HTTP 403" in refund.last_error
    assert len(stripe.refunds) == 0 and len(stripe.posts) >= 1


def remove_stripe_key(app, shop) -> None:
    with app.extensions["db"].session() as session:
        replace_credentials(session, app.extensions["vault"], session.get(Shop, shop[0].id),
                            {"payments": {"stripe": {"secret_key": ""}}})  # fmt: skip


def test_a_refund_never_sent_fails_for_want_of_credentials_with_a_reason_saying_so(
    app, client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    remove_stripe_key(app, shop)
    approve_and_receive(client, shop[1], ret.id)
    work()
    refund = refund_of(db)
    assert refund.status == "failed" and refund.last_error == "the shop has no Stripe secret key in Palautus"
    assert stripe.posts == []


def test_a_refund_with_the_provider_is_held_not_failed_when_its_credentials_go_missing(
    app, client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.status = "pending"
    approve_and_receive(client, shop[1], ret.id)
    work()
    remove_stripe_key(app, shop)
    later(db)
    assert sweep()["refunds"] == 1
    work()
    refund = refund_of(db)
    assert refund.status == "submitted" and "no Stripe secret key" in refund.last_error
    assert refund.next_attempt_at is not None  # the sweeper leaves it a while before asking again
