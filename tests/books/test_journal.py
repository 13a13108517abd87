"""Refund rows become balanced vouchers on the merchant's accounts; the account map says exactly what is wrong."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings

from integration.books import Component
from integration.errors import InvalidInput
from integration.journal import (ANY, BAS_DEFAULTS, FINNISH_DEFAULTS, AccountMap, Kind, VatClass, account_map,
                                 rate_key, vouchers)  # fmt: skip
from tests.books.factories import BAS_ANY_RATE, many_refunds, row


def lines(voucher):
    return [(e.account, e.amount, e.kind) for e in voucher.entries]


def test_a_refund_reverses_the_sale_debit_sales_and_vat_credit_the_providers_clearing_account():
    [voucher] = vouchers([row()], FINNISH_DEFAULTS)
    assert lines(voucher) == [("3000", 10000, Kind.INCOME), ("2939", 2550, Kind.VAT), ("1711", -12550, Kind.CLEARING)]
    assert voucher.text == "Refund #1001 R-7K2M rf_1"
    assert (voucher.date, voucher.currency, voucher.order_ref) == (row().refund_date, "EUR", "#1001")


def test_kept_fees_land_on_the_opposite_sides_and_reduce_what_the_provider_pays_back():
    rows = [row(), row(component=Component.RESTOCKING_FEE, gross=-1255),
            row(component=Component.RETURN_SHIPPING_FEE, gross=-502)]  # fmt: skip
    [voucher] = vouchers(rows, FINNISH_DEFAULTS)
    assert lines(voucher) == [
        ("3000", 10000, Kind.INCOME), ("3990", -1000, Kind.INCOME), ("3270", -400, Kind.INCOME),
        ("2939", 2550 - 255 - 102, Kind.VAT), ("1711", -12550 + 1255 + 502, Kind.CLEARING),
    ]  # fmt: skip
    fee = voucher.entries[1]
    assert (fee.debit, fee.credit) == (0, 1000)


def test_each_rate_gets_its_own_sales_and_vat_lines_where_the_chart_tells_rates_apart():
    rows = [row(country="SE", rate=Decimal(25), gross=12500), row(country="SE", rate=Decimal(12), gross=1120),
            row(country="SE", rate=Decimal(6), gross=1060, component=Component.SHIPPING)]  # fmt: skip
    [voucher] = vouchers(rows, BAS_DEFAULTS)
    assert lines(voucher) == [
        ("3001", 10000, Kind.INCOME), ("3002", 1000, Kind.INCOME), ("3520", 1000, Kind.INCOME),
        ("2611", 2500, Kind.VAT), ("2621", 120, Kind.VAT), ("2631", 60, Kind.VAT),
        ("1580", -14680, Kind.CLEARING),
    ]  # fmt: skip


def test_rows_of_several_vat_countries_stay_apart_and_name_their_country():
    rows = [row(), row(country="SE", rate=Decimal(25), gross=2500), row(country="DE", rate=Decimal(19), gross=1190)]
    [voucher] = vouchers(rows, FINNISH_DEFAULTS)
    assert voucher.countries == ["FI", "SE", "DE"]
    vat = [e for e in voucher.entries if e.kind == Kind.VAT]
    assert [(e.country, e.amount, e.vat_class) for e in vat] == [
        ("FI", 2550, VatClass.DOMESTIC), ("SE", 500, VatClass.EU), ("DE", 190, VatClass.EU)]
    assert all(e.description.endswith(" " + e.country) for e in voucher.entries)
    for country in voucher.countries:  # each country's lines balance on their own
        assert sum(e.amount for e in voucher.entries if e.country == country) == 0


def test_the_map_may_book_one_countrys_sales_and_vat_on_their_own_accounts():
    data = FINNISH_DEFAULTS.to_dict()
    data["by_country"] = {"SE": {"income": {"goods": {ANY: "3360"}}, "output_vat": {"25": "2938"}}}
    [voucher] = vouchers([row(country="SE", rate=Decimal(25), gross=2500), row()], AccountMap.from_dict(data))
    assert lines(voucher)[:4] == [("3360", 2000, Kind.INCOME), ("3000", 10000, Kind.INCOME),
                                  ("2938", 500, Kind.VAT), ("2939", 2550, Kind.VAT)]  # fmt: skip


def test_a_swedish_map_refuses_another_countrys_vat_until_the_merchant_names_an_account():
    with pytest.raises(InvalidInput, match=r"no output-VAT account for 25\.5 % \(FI\)"):
        vouchers([row()], BAS_DEFAULTS)
    [voucher] = vouchers([row()], BAS_ANY_RATE)
    assert lines(voucher)[:2] == [("3106", 10000, Kind.INCOME), ("2890", 2550, Kind.VAT)]


def test_refunds_made_outside_palautus_are_countered_on_the_external_refunds_account():
    rows = [row(source="external", provider=None, route=None, refund_ref="shopify:77"),
            row(source="external", provider=None, route=None, refund_ref="shopify:77",
                component=Component.UNALLOCATED, rate=Decimal(0), gross=700)]  # fmt: skip
    [voucher] = vouchers(rows, FINNISH_DEFAULTS)
    assert lines(voucher) == [("3000", 10000, Kind.INCOME), ("1777", 700, Kind.INCOME), ("2939", 2550, Kind.VAT),
                              ("1995", -13250, Kind.CLEARING)]  # fmt: skip
    assert voucher.text.startswith("External refund #1001")


def test_what_a_refund_could_not_pay_is_owed_to_the_customer_not_taken_back_from_the_sale():
    rows = [row(), row(component=Component.UNCREDITED, gross=-2000)]  # -2000: net -1594, VAT -406 at 25.5 %
    [voucher] = vouchers(rows, FINNISH_DEFAULTS)
    # The sale is reversed in full, the unpaid part's net is owed to the customer, and output VAT falls by what the
    # refund carried (2550 - 406), as the VAT summary and the credit note say.
    assert lines(voucher) == [("3000", 10000, Kind.INCOME), ("2939", 2144, Kind.VAT), ("2949", -1594, Kind.OWED),
                              ("1711", -10550, Kind.CLEARING)]  # fmt: skip


def test_the_clearing_account_is_the_providers_else_the_routes_else_the_fallback():
    data = FINNISH_DEFAULTS.to_dict()
    data["clearing"] = {"klarna": "1729", "shopify": "1705", ANY: "1711"}
    accounts = AccountMap.from_dict(data)
    assert accounts.clearing_account("klarna", "shopify") == "1729"
    assert accounts.clearing_account("shopify_payments", "shopify") == "1705"
    assert accounts.clearing_account("paypal", "paypal") == "1711"
    [voucher] = vouchers([row(provider="klarna", route="klarna")], accounts)
    assert voucher.entries[-1].account == "1729"


def test_one_voucher_per_refund_in_refund_date_order():
    rows = [row(refund_ref="b", refund_date=row().refund_date.replace(day=9)), row(refund_ref="a"),
            row(refund_ref="b", refund_date=row().refund_date.replace(day=9), component=Component.SHIPPING)]
    assert [v.refund_ref for v in vouchers(rows, FINNISH_DEFAULTS)] == ["a", "b"]


def test_rows_that_do_not_add_up_or_disagree_about_their_refund_are_refused():
    with pytest.raises(InvalidInput, match="net \\+ vat != gross"):
        vouchers([row(net=1, vat=1, gross=3)], FINNISH_DEFAULTS)
    with pytest.raises(InvalidInput, match="different currency"):
        vouchers([row(), row(currency="SEK")], FINNISH_DEFAULTS)


@settings(max_examples=150, deadline=None)
@given(many_refunds())
def test_every_voucher_balances_to_the_cent_whatever_the_rows(rows):
    for accounts in (FINNISH_DEFAULTS, BAS_ANY_RATE):
        built = vouchers(rows, accounts)
        assert len(built) <= len({r.refund_ref for r in rows})
        for voucher in built:
            assert sum(e.debit for e in voucher.entries) == sum(e.credit for e in voucher.entries)
            assert all(e.amount for e in voucher.entries)
            for country in voucher.countries:
                assert sum(e.amount for e in voucher.entries if e.country == country) == 0
        # What the providers and the external clearing account give back is what the rows moved (less what is owed).
        moved = sum(r.gross for r in rows if r.component != Component.UNCREDITED)
        owed = sum(r.gross for r in rows if r.component == Component.UNCREDITED)
        clearing = sum(e.amount for v in built for e in v.entries if e.kind == Kind.CLEARING)
        assert clearing == -(moved + owed)


# The account map


def test_both_default_maps_survive_json_unchanged():
    for accounts in (FINNISH_DEFAULTS, BAS_DEFAULTS):
        assert AccountMap.from_dict(json.loads(json.dumps(accounts.to_dict()))) == accounts


def test_the_defaults_follow_the_published_charts():
    assert (FINNISH_DEFAULTS.income["goods"][ANY], FINNISH_DEFAULTS.output_vat[ANY]) == ("3000", "2939")
    assert FINNISH_DEFAULTS.names["2939"] == "Arvonlisäverovelka"
    assert [BAS_DEFAULTS.income["goods"][r] for r in ("25", "12", "6")] == ["3001", "3002", "3003"]
    assert [BAS_DEFAULTS.output_vat[r] for r in ("25", "12", "6")] == ["2611", "2621", "2631"]
    assert (BAS_DEFAULTS.clearing[ANY], BAS_DEFAULTS.provider_fees) == ("1580", "6570")
    assert BAS_DEFAULTS.names["1580"] == "Fordringar för kontokort och kuponger"


def test_rates_are_keyed_without_trailing_zeros():
    assert [rate_key(Decimal(r)) for r in ("24.00", "13.50", "10", "0.0")] == ["24", "13.5", "10", "0"]


@pytest.mark.parametrize("change, message, path", [
    ({"colour": "red"}, "unknown key 'colour'", "colour"),
    ({"uncredited": None}, "uncredited must be an account number of 3 to 10 digits, got None", "uncredited"),
    ({"home_country": "fin"}, 'home_country must be a country code like "FI"', "home_country"),
    ({"output_vat": {"24.0": "2939"}}, 'output_vat key \'24.0\' must be a VAT rate like "24"', "output_vat.24.0"),
    ({"output_vat": {"24": "29 39"}}, "output_vat.24 must be an account number", "output_vat.24"),
    ({"income": {"gift_wrap": {ANY: "3000"}}}, "income takes goods, shipping", "income.gift_wrap"),
    ({"clearing": []}, "clearing must be an object", "clearing"),
    ({"by_country": {"SE": {"fees": {}}}}, "by_country.SE takes income and output_vat, not 'fees'",
     "by_country.SE.fees"),
    ({"by_country": {"se": {}}}, "by_country.se must be a country code", "by_country.se"),
    ({"names": {"3000": " "}}, "names.3000 must be a non-empty text", "names.3000"),
])  # fmt: skip
def test_a_bad_map_is_refused_with_what_is_wrong_and_where(change, message, path):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(".", r"\.")) as caught:
        AccountMap.from_dict({**FINNISH_DEFAULTS.to_dict(), **change})
    assert caught.value.data["path"] == path


def test_a_map_missing_a_key_says_which():
    data = FINNISH_DEFAULTS.to_dict()
    del data["clearing"]
    with pytest.raises(InvalidInput, match="clearing is missing"):
        AccountMap.from_dict(data)
    with pytest.raises(InvalidInput, match="must be an object"):
        AccountMap.from_dict(["3000"])


def test_the_journal_and_the_export_writers_import_only_the_standard_library_and_the_core():
    import sys
    from pathlib import Path

    from tests.test_architecture import ROOT, imports

    modules = [ROOT / "integration" / "journal.py", *sorted((ROOT / "integration" / "exports").glob("*.py"))]
    for module in modules:
        foreign = {name for name in imports(module) if name.split(".")[0] not in sys.stdlib_module_names
                   and name != "__future__" and not name.startswith("integration.")}  # fmt: skip
        assert foreign == set(), module
        assert not {n for n in imports(module) if n.startswith(("integration.services", "integration.models"))}
    assert Path(ROOT / "integration" / "exports" / "csv.py").exists()


def test_the_merchants_accounts_go_over_the_charts_defaults_key_by_key():
    accounts = account_map("fi", {"output_vat": {"24": "2938"}, "clearing": {"klarna": "1729"},
                                  "by_country": {"SE": {"output_vat": {ANY: "2937"}}}})  # fmt: skip
    assert accounts.output_vat == {"24": "2938", ANY: "2939"}
    assert accounts.clearing == {"klarna": "1729", ANY: "1711"}
    assert accounts.vat_account(Decimal(25), "SE") == "2937" and accounts.income["goods"] == {ANY: "3000"}
    assert account_map("bas") == BAS_DEFAULTS and account_map("fi", {}) == FINNISH_DEFAULTS


def test_an_unknown_chart_or_a_bad_override_is_refused():
    with pytest.raises(InvalidInput, match="chart must be one of fi, bas"):
        account_map("us-gaap")
    with pytest.raises(InvalidInput, match="clearing.stripe must be an account number"):
        account_map("fi", {"clearing": {"stripe": "x"}})
    with pytest.raises(InvalidInput, match="unknown key 'colour'"):
        account_map("bas", {"colour": "red"})
