"""Each page renders for the signed-in shop: the returns list and its filters, a return, the overviews."""
from __future__ import annotations

from datetime import timedelta

from integration.models import Refund, Return, Withdrawal, utcnow


def text(answer) -> str:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def test_the_returns_list_shows_code_order_status_track_created_and_deadline(signed_in, shop, build, db):
    due = utcnow() + timedelta(days=10)
    ret = db.get(Return, build(shop[0], track="withdrawal", refund_due_at=due))
    page = text(signed_in.get("/dashboard/returns"))
    for shown in (ret.code, "#1001", "approved", "withdrawal", due.strftime("%Y-%m-%d %H:%M UTC")):
        assert shown in page
    assert "<th scope=\"col\">" in page and "overdue" not in page.split("<tbody>")[1]


def test_the_filters_find_by_status_track_method_code_order_and_overdue(signed_in, shop, build, db):
    late = db.get(Return, build(shop[0], track="withdrawal", refund_due_at=utcnow() - timedelta(days=1)))
    plain = db.get(Return, build(shop[0], platform_order_id="1002"))
    assert (late.status, plain.status) == ("approved", "requested")  # a withdrawal is approved by itself
    cases = {"?status=requested": plain, "?track=withdrawal": late, "?overdue=1": late, f"?q={plain.code}": plain,
             "?q=%231002": plain, "?q=1002": plain, "?method=postal&status=approved": late}  # fmt: skip
    for query, expected in cases.items():
        page = text(signed_in.get(f"/dashboard/returns{query}"))
        other = plain if expected is late else late
        assert expected.code in page and other.code not in page, query
    assert "overdue" in text(signed_in.get("/dashboard/returns?overdue=1")).split("<tbody>")[1]
    assert text(signed_in.get("/dashboard/returns?status=nonsense&page=99")).count("/dashboard/returns/") >= 2


def test_a_paid_withdrawal_is_not_overdue(signed_in, shop, build, db):
    ret = db.get(Return, build(shop[0], track="withdrawal", refund_due_at=utcnow() - timedelta(days=1)))
    db.add(Refund(return_id=ret.id, sequence=1, idempotency_key="k-paid", amount=100, currency="EUR", status="succeeded"))
    db.commit()
    assert ret.code not in text(signed_in.get("/dashboard/returns?overdue=1"))


def test_a_return_shows_its_order_customer_items_verdict_preview_refunds_timeline_and_feedback(signed_in, shop, build, db):
    return_id = build(shop[0], feedback_rating=4, feedback_comment="Quick and easy", feedback_at=utcnow())
    db.add(Refund(return_id=return_id, sequence=1, idempotency_key="k-1", amount=500, currency="EUR", status="failed",
                  route="stripe", provider="stripe", provider_refund_id="re_123", last_error="card expired"))  # fmt: skip
    db.commit()
    page = text(signed_in.get(f"/dashboard/returns/{return_id}"))
    for shown in ("#1001", "customer@example.com", "Merino jumper", "size too small", "too tight", "Wool socks",
                  "Eligible under the return policy", "Would pay back", "5.00 EUR", "re_123", "card expired",
                  "requested", "4 of 5", "Quick and easy", "Approve", "Reject"):  # fmt: skip
        assert shown in page, shown


def test_the_failed_refunds_page_lists_each_with_its_reason_and_return(signed_in, shop, build, db):
    return_id = build(shop[0])
    db.add(Refund(return_id=return_id, sequence=1, idempotency_key="k-f", amount=8990, currency="EUR", status="failed",
                  route="stripe", last_error="charge_already_refunded"))  # fmt: skip
    db.add(Refund(return_id=return_id, sequence=2, idempotency_key="k-s", amount=1, currency="EUR", status="succeeded"))
    db.commit()
    page = text(signed_in.get("/dashboard/refunds/failed"))
    assert "charge_already_refunded" in page and "89.90 EUR" in page and f"/dashboard/returns/{return_id}" in page
    assert "0.01 EUR" not in page


def test_the_withdrawals_page_shows_statements_matched_and_not(signed_in, shop, build, db):
    return_id = build(shop[0], track="withdrawal")
    code = db.get(Return, return_id).code
    for ref, matched in (("W-MATCHED", return_id), ("W-LOOSE", None)):
        db.add(Withdrawal(shop_id=shop[0].id, return_id=matched, code=ref, kind="withdrawal", customer_name="Aino",
                          email="aino@example.com", order_reference="#1001",
                          status="received" if matched else "unmatched"))  # fmt: skip
    db.commit()
    page = text(signed_in.get("/dashboard/withdrawals"))
    assert "W-MATCHED" in page and "W-LOOSE" in page and code in page and "not matched" in page
    loose = text(signed_in.get("/dashboard/withdrawals?matched=no"))
    assert "W-LOOSE" in loose and "W-MATCHED" not in loose


def test_the_feedback_page_shows_count_average_distribution_and_latest_comments(signed_in, shop, build, db):
    for n, (rating, comment) in enumerate(((5, "Great"), (4, None), (3, "Slow refund"))):
        build(shop[0], platform_order_id=f"30{n}", feedback_rating=rating, feedback_comment=comment,
              feedback_at=utcnow() - timedelta(hours=n))  # fmt: skip
    page = text(signed_in.get("/dashboard/feedback"))
    assert "3 customers rated their return: 4.0 of 5 on average." in page
    assert "Great" in page and "Slow refund" in page and page.index("Great") < page.index("Slow refund")


def test_the_pages_carry_the_strict_headers_and_the_stylesheet_is_served(signed_in):
    answer = signed_in.get("/dashboard/returns")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"] and answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store" and "style=" not in answer.get_data(as_text=True)
    css = signed_in.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and b"focus-visible" in css.data
