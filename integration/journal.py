"""Refund rows as balanced vouchers, and the merchant's account map that says where each line is booked. Pure.

Why a journal between the rows and the files: Procountor, Netvisor and SIE all want the same thing, a balanced
double-entry voucher per refund (a credit note that reverses part of a sale), only spelled differently. Building
the voucher once here keeps the accounting rule in one place and lets each writer be a formatter.

The rule, on every row (integration/books.py: net + vat == gross, positive = given back, negative = kept):
    debit income account  net      (the sale, or the kept fee, reversed)
    debit output VAT      vat
    credit counter account gross   (the provider's clearing account: the refund reduces what the provider owes us)
A kept fee is a negative row, so the same three lines land on the opposite sides: credit income, credit VAT,
debit clearing. Two components differ: `uncredited` (owed to the customer but not paid by this refund) books its
gross to a liability instead of reversing the sale again, and refunds made outside Palautus (source "external")
are countered on the "external refunds" clearing account, since nobody told us which route moved the money.
Entry.amount is signed minor units: positive is a debit, negative a credit; every voucher sums to zero.

Rows of several VAT countries (OSS sales) stay apart: entries are never merged across countries, the VAT country
is in each entry's text and `country` field, and the map may name other accounts per country (`by_country`).

Default charts, each checked against a published chart (account numbers and names as they appear there):
- FINNISH_DEFAULTS: the Finnish "Elinkeinotoiminta" tililuettelo of Tilitin, as Kitupiikki ships it
  (github.com/artoh/kitupiikki, kitupiikki/tilikartat/tilitin.kpk): 3000 Myynti, 3270 Kuljetusveloitukset,
  3990 Muut liiketoiminnan muut tuotot, 2939 Arvonlisäverovelka, 1711 Luottokorttisaamiset, 1995 Rahansiirrot
  matkalla, 1777 Selvittelytili, 2949 Muut lyhytaikaiset velat, 8010 Luottokorttiprovisiot. Procountor's default
  chart agrees where its documentation shows it (3000 is the sales-invoice default account, support.procountor.fi
  "Posting of received reference payments"; 2939 is the VAT-payable line of the Netvisor voucher example in
  github.com/Heltti/netvisor-api-client tests/data/requests/Voucher.xml).
- BAS_DEFAULTS: the Swedish BAS kontoplan (names as in bas.se "Förändringar i kontotabell ... BAS 2011 och BAS
  2010" for 2611/2621/2631, and the BAS transcription of Odoo's l10n_se chart template): 3001/3002/3003/3004
  Försäljning inom Sverige 25/12/6 %/momsfri, 3106 Försäljning varor till annat EU-land, momspliktig, 3520
  Fakturerade frakter, 3900 Övriga rörelseintäkter, 2611/2621/2631 Utgående moms på försäljning inom Sverige,
  1580 Fordringar för kontokort och kuponger, 1680 Andra kortfristiga fordringar, 2890 Övriga kortfristiga
  skulder, 2999 OBS-konto, 6570 Bankkostnader. BAS has no account for another country's VAT (OSS), so a Swedish
  map has no fallback output-VAT account: such a row is refused until the merchant names one.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from integration.books import BookRow, Component
from integration.errors import InvalidInput

__all__ = ["ANY", "EU_COUNTRIES", "Kind", "VatClass", "AccountMap", "Entry", "Voucher", "vouchers", "rate_key",
           "account_map", "CHARTS", "FINNISH_DEFAULTS", "BAS_DEFAULTS"]  # fmt: skip

ANY = "*"  # the fallback key of a rate or provider mapping
EU_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
INCOME_COMPONENTS = (Component.GOODS, Component.SHIPPING, Component.RETURN_SHIPPING_FEE, Component.RESTOCKING_FEE,
                     Component.DIMINISHED_VALUE)  # fmt: skip
_LABELS = {
    Component.GOODS: "returned goods", Component.SHIPPING: "shipping refunded",
    Component.RETURN_SHIPPING_FEE: "return shipping fee kept", Component.RESTOCKING_FEE: "restocking fee kept",
    Component.DIMINISHED_VALUE: "diminished value kept", Component.UNALLOCATED: "external refund, reason unknown",
}  # fmt: skip
_ACCOUNT = re.compile(r"\d{3,10}")
_RATE = re.compile(r"\d{1,2}(\.\d{1,2})?")
_REQUIRED = ("home_country", "income", "output_vat", "clearing", "provider_fees", "external_refunds", "uncredited",
             "unallocated")  # fmt: skip


class Kind:
    """What an entry books."""

    INCOME = "income"  # the sale (or the kept fee) the refund reverses
    VAT = "vat"  # output VAT on it
    CLEARING = "clearing"  # what the provider owes us, or the external-refunds clearing account
    OWED = "owed"  # still owed to the customer (uncredited)
    FEE = "fee"  # the payment provider's fee on a refund (an expense; financial services carry no VAT)


class VatClass:
    """How the VAT of an entry is treated by the home country's VAT return (writers turn it into VAT codes)."""

    DOMESTIC = "domestic"  # the home country's VAT (also when the row's VAT country is unknown)
    EU = "eu"  # another EU country's VAT (OSS)
    EXPORT = "export"  # outside the EU
    NONE = "none"  # not a VAT line at all (clearing, liabilities)


def rate_key(rate: Decimal) -> str:
    """A VAT rate as a map key: Decimal("24.00") -> "24", Decimal("13.50") -> "13.5"."""
    return format(Decimal(rate).normalize(), "f")


@dataclass(frozen=True)
class AccountMap:
    """Where each kind of line is booked. Rate mappings take a rate key ("24", "13.5") or "*" for any other rate;
    `by_country` overrides `income` and `output_vat` for one VAT country; `names` are the accounts' names (SIE)."""

    home_country: str
    income: dict  # component -> {rate key | "*": account}
    output_vat: dict  # rate key | "*" -> account
    clearing: dict  # provider or route name | "*" -> account
    provider_fees: str  # the provider's fees on refunds (expense): Component.PROVIDER_FEE rows
    external_refunds: str  # counter account of refunds made outside Palautus
    uncredited: str  # liability: owed to the customer, not paid by this refund
    unallocated: str  # suspense: the part of an external refund its lines do not explain
    by_country: dict = field(default_factory=dict)  # country -> {"income": {...}, "output_vat": {...}}
    names: dict = field(default_factory=dict)  # account -> its name in the chart

    def __post_init__(self):
        _validate(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> AccountMap:
        """The map from its JSON form (what to_dict gives); InvalidInput names the first thing that is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidInput("account map must be an object", path="")
        unknown = sorted(set(data) - set(_REQUIRED) - {"by_country", "names"})
        missing = [key for key in _REQUIRED if key not in data]
        if unknown:
            raise InvalidInput(f"account map: unknown key {unknown[0]!r}", path=unknown[0])
        if missing:
            raise InvalidInput(f"account map: {missing[0]} is missing", path=missing[0])
        return cls(**{key: _copy(value) for key, value in data.items()})

    def to_dict(self) -> dict:
        """The map as plain JSON-ready data."""
        return {name: _copy(getattr(self, name)) for name in (*_REQUIRED, "by_country", "names")}

    def income_account(self, component: str, rate: Decimal, country: str) -> str:
        """The account a component's net amount is booked to, at this rate and VAT country."""
        found = _by_rate(self.by_country.get(country, {}).get("income", {}).get(component, {}), rate)
        found = found or _by_rate(self.income.get(component, {}), rate)
        if not found:
            raise InvalidInput(f"account map has no income account for {component} at {rate_key(rate)} % "
                               f"({country or 'unknown country'})", path=f"income.{component}")  # fmt: skip
        return found

    def vat_account(self, rate: Decimal, country: str) -> str:
        """The output-VAT account of a rate in a VAT country."""
        found = _by_rate(self.by_country.get(country, {}).get("output_vat", {}), rate)
        found = found or _by_rate(self.output_vat, rate)
        if not found:
            raise InvalidInput(f"account map has no output-VAT account for {rate_key(rate)} % "
                               f"({country or 'unknown country'}): add output_vat or by_country",
                               path="output_vat")  # fmt: skip
        return found

    def clearing_account(self, provider: str | None, route: str | None) -> str:
        """The clearing account of the provider that held the money (else the route that moved it, else "*")."""
        for key in (provider, route, ANY):
            if key and key in self.clearing:
                return self.clearing[key]
        raise InvalidInput(f"account map has no clearing account for {provider or route}", path="clearing")

    def vat_class(self, country: str) -> str:
        """Domestic, EU (OSS) or export VAT, as seen from the home country."""
        if not country or country == self.home_country:
            return VatClass.DOMESTIC
        return VatClass.EU if country in EU_COUNTRIES else VatClass.EXPORT


@dataclass(frozen=True)
class Entry:
    """One voucher line: signed minor units (positive debit, negative credit)."""

    account: str
    amount: int
    kind: str
    description: str
    country: str = ""
    rate: Decimal | None = None  # on income and VAT lines
    vat_class: str = VatClass.NONE
    component: str | None = None  # on income lines
    vat_account: str | None = None  # on income lines: where their VAT is booked (when the map names one)

    @property
    def debit(self) -> int:
        return max(self.amount, 0)

    @property
    def credit(self) -> int:
        return max(-self.amount, 0)


@dataclass(frozen=True)
class Voucher:
    """One refund as a balanced voucher."""

    date: date
    refund_ref: str
    order_ref: str
    return_code: str | None
    currency: str
    source: str
    text: str  # the voucher's own description: order, return code and refund reference
    entries: tuple[Entry, ...]

    @property
    def countries(self) -> list[str]:
        """The VAT countries of its lines, in order of appearance."""
        return list(dict.fromkeys(entry.country for entry in self.entries))


def vouchers(rows: Iterable[BookRow], accounts: AccountMap) -> list[Voucher]:
    """One balanced voucher per refund (shop, refund reference), in refund-date order; empty ones are left out."""
    groups: dict[tuple, list[BookRow]] = {}
    for row in rows:
        groups.setdefault((row.shop_id, row.refund_ref), []).append(row)
    built = [_voucher(group, accounts) for group in groups.values()]
    return sorted((v for v in built if v.entries), key=lambda v: (v.date, v.refund_ref))


def _voucher(rows: list[BookRow], accounts: AccountMap) -> Voucher:
    first = rows[0]
    for name in ("currency", "refund_date", "order_ref", "source", "return_code"):
        if len({getattr(row, name) for row in rows}) > 1:
            raise InvalidInput(f"refund {first.refund_ref} has rows of different {name}", refund_ref=first.refund_ref)
    lines: dict[tuple, Entry] = {}
    for row in rows:
        for entry in _entries(row, accounts):
            key = (entry.kind, entry.account, entry.component, entry.rate, entry.country)
            held = lines.get(key)
            lines[key] = entry if held is None else _add(held, entry)
    order = (Kind.INCOME, Kind.VAT, Kind.OWED, Kind.FEE, Kind.CLEARING)
    entries = tuple(sorted((e for e in lines.values() if e.amount), key=lambda e: order.index(e.kind)))
    if sum(entry.amount for entry in entries):
        raise InvalidInput(f"refund {first.refund_ref} does not balance", refund_ref=first.refund_ref)
    words = ["External refund" if first.source == "external" else "Refund", first.order_ref, first.return_code,
             first.refund_ref]  # fmt: skip
    return Voucher(first.refund_date, first.refund_ref, first.order_ref, first.return_code, first.currency,
                   first.source, " ".join(w for w in words if w), entries)  # fmt: skip


def _entries(row: BookRow, accounts: AccountMap) -> list[Entry]:
    if row.net + row.vat != row.gross:
        raise InvalidInput(f"refund {row.refund_ref}: net + vat != gross on its {row.component} row",
                           refund_ref=row.refund_ref)  # fmt: skip
    where = f" {row.country}" if row.country else ""
    counter = _counter(row, accounts, where)
    if row.component == Component.PROVIDER_FEE:  # the provider keeps it from what it owes: expense, less clearing
        fee = f"{row.order_ref} {row.provider or row.route} fee on the refund{where}"
        return [Entry(accounts.provider_fees, row.gross, Kind.FEE, fee, row.country), counter]
    if row.component == Component.UNCREDITED:
        # Owed to the customer, not paid by this refund: its net is a debt to them, and the VAT it carries stays in
        # output VAT as the refund's VAT says (the row's VAT, as for a fee kept), so the journal, the VAT summary
        # and the credit note take the same VAT off.
        owed = f"{row.order_ref} still owed to the customer{where}"
        entries = [Entry(accounts.uncredited, row.net, Kind.OWED, owed, row.country)]
        if row.vat:
            rate = f"{rate_key(row.rate)} %"
            entries.append(Entry(_vat_account(row, accounts), row.vat, Kind.VAT,
                                 f"{row.order_ref} output VAT {rate}{where}", row.country, row.rate,
                                 accounts.vat_class(row.country)))  # fmt: skip
        return entries + [counter]
    if row.component == Component.UNALLOCATED:
        account = accounts.unallocated
    elif row.component in INCOME_COMPONENTS:
        account = accounts.income_account(row.component, row.rate, row.country)
    else:
        raise InvalidInput(f"refund {row.refund_ref}: unknown component {row.component!r}", refund_ref=row.refund_ref)
    vat_class, rate = accounts.vat_class(row.country), f"{rate_key(row.rate)} %"
    label = f"{row.order_ref} {_LABELS[row.component]} {rate}{where}"
    vat_account = _vat_account(row, accounts)
    entries = [Entry(account, row.net, Kind.INCOME, label, row.country, row.rate, vat_class, row.component,
                     vat_account)]  # fmt: skip
    if row.vat:
        entries.append(Entry(vat_account, row.vat, Kind.VAT, f"{row.order_ref} output VAT {rate}{where}",
                             row.country, row.rate, vat_class))  # fmt: skip
    return entries + [counter]


def _vat_account(row: BookRow, accounts: AccountMap) -> str | None:
    try:
        return accounts.vat_account(row.rate, row.country)
    except InvalidInput:
        if row.vat:
            raise
        return None  # a row without VAT needs no VAT account


def _counter(row: BookRow, accounts: AccountMap, where: str) -> Entry:
    if row.source == "external":
        account, via = accounts.external_refunds, "outside Palautus"
    else:
        account, via = accounts.clearing_account(row.provider, row.route), f"via {row.provider or row.route}"
    return Entry(account, -row.gross, Kind.CLEARING, f"{row.order_ref} refund {via}{where}", row.country)


def _add(held: Entry, more: Entry) -> Entry:
    return Entry(held.account, held.amount + more.amount, held.kind, held.description, held.country, held.rate,
                 held.vat_class, held.component, held.vat_account)  # fmt: skip


def _by_rate(mapping: Mapping, rate: Decimal) -> str | None:
    return mapping.get(rate_key(rate)) or mapping.get(ANY)


def _copy(value):
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, Mapping) else value


# Validation: each message names the path of the bad value, so a merchant's settings form can point at it.


def _validate(m: AccountMap) -> None:
    _country(m.home_country, "home_country")
    _components(m.income, "income")
    _rates(m.output_vat, "output_vat")
    _mapping(m.clearing, "clearing")
    for key, account in m.clearing.items():
        _text(key, "clearing key")
        _account(account, f"clearing.{key}")
    for name in ("provider_fees", "external_refunds", "uncredited", "unallocated"):
        _account(getattr(m, name), name)
    _mapping(m.by_country, "by_country")
    for country, override in m.by_country.items():
        _country(country, f"by_country.{country}")
        _mapping(override, f"by_country.{country}")
        for key in override:
            if key not in ("income", "output_vat"):
                raise InvalidInput(f"account map: by_country.{country} takes income and output_vat, not {key!r}",
                                   path=f"by_country.{country}.{key}")  # fmt: skip
        _components(override.get("income", {}), f"by_country.{country}.income")
        _rates(override.get("output_vat", {}), f"by_country.{country}.output_vat")
    _mapping(m.names, "names")
    for account, name in m.names.items():
        _account(account, "names")
        _text(name, f"names.{account}")


def _components(mapping, path: str) -> None:
    _mapping(mapping, path)
    for component, rates in mapping.items():
        if component not in INCOME_COMPONENTS:
            raise InvalidInput(f"account map: {path} takes {', '.join(INCOME_COMPONENTS)}, not {component!r}",
                               path=f"{path}.{component}")  # fmt: skip
        _rates(rates, f"{path}.{component}")


def _rates(mapping, path: str) -> None:
    _mapping(mapping, path)
    for rate, account in mapping.items():
        if rate != ANY and not (isinstance(rate, str) and _RATE.fullmatch(rate) and rate == rate_key(Decimal(rate))):
            raise InvalidInput(f"account map: {path} key {rate!r} must be a VAT rate like \"24\" or \"13.5\", or "
                               f"\"*\"", path=f"{path}.{rate}")  # fmt: skip
        _account(account, f"{path}.{rate}")


def _mapping(value, path: str) -> None:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"account map: {path} must be an object", path=path)


def _account(value, path: str) -> None:
    if not (isinstance(value, str) and _ACCOUNT.fullmatch(value)):
        raise InvalidInput(f"account map: {path} must be an account number of 3 to 10 digits, got {value!r}",
                           path=path)  # fmt: skip


def _country(value, path: str) -> None:
    if not (isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value)):
        raise InvalidInput(f"account map: {path} must be a country code like \"FI\", got {value!r}", path=path)


def _text(value, path: str) -> None:
    if not (isinstance(value, str) and value.strip()):
        raise InvalidInput(f"account map: {path} must be a non-empty text", path=path)


FINNISH_DEFAULTS = AccountMap(
    home_country="FI",
    income={
        Component.GOODS: {ANY: "3000"}, Component.SHIPPING: {ANY: "3270"},
        Component.RETURN_SHIPPING_FEE: {ANY: "3270"}, Component.RESTOCKING_FEE: {ANY: "3990"},
        Component.DIMINISHED_VALUE: {ANY: "3000"},
    },
    output_vat={ANY: "2939"},
    clearing={ANY: "1711"},
    provider_fees="8010",
    external_refunds="1995",
    uncredited="2949",
    unallocated="1777",
    names={
        "3000": "Myynti", "3270": "Kuljetusveloitukset", "3990": "Muut liiketoiminnan muut tuotot",
        "2939": "Arvonlisäverovelka", "1711": "Luottokorttisaamiset", "8010": "Luottokorttiprovisiot",
        "1995": "Rahansiirrot matkalla", "2949": "Muut lyhytaikaiset velat", "1777": "Selvittelytili",
    },
)  # fmt: skip

_BAS_SALES = {"25": "3001", "12": "3002", "6": "3003", "0": "3004", ANY: "3106"}
BAS_DEFAULTS = AccountMap(
    home_country="SE",
    income={
        Component.GOODS: dict(_BAS_SALES), Component.SHIPPING: {ANY: "3520"},
        Component.RETURN_SHIPPING_FEE: {ANY: "3520"}, Component.RESTOCKING_FEE: {ANY: "3900"},
        Component.DIMINISHED_VALUE: dict(_BAS_SALES),
    },
    output_vat={"25": "2611", "12": "2621", "6": "2631"},
    clearing={ANY: "1580"},
    provider_fees="6570",
    external_refunds="1680",
    uncredited="2890",
    unallocated="2999",
    names={
        "3001": "Försäljning inom Sverige, 25 % moms", "3002": "Försäljning inom Sverige, 12 % moms",
        "3003": "Försäljning inom Sverige, 6 % moms", "3004": "Försäljning inom Sverige, momsfri",
        "3106": "Försäljning varor till annat EU-land, momspliktig", "3520": "Fakturerade frakter",
        "3900": "Övriga rörelseintäkter", "2611": "Utgående moms på försäljning inom Sverige, 25 %",
        "2621": "Utgående moms på försäljning inom Sverige, 12 %",
        "2631": "Utgående moms på försäljning inom Sverige, 6 %",
        "1580": "Fordringar för kontokort och kuponger", "6570": "Bankkostnader",
        "1680": "Andra kortfristiga fordringar", "2890": "Övriga kortfristiga skulder", "2999": "OBS-konto",
    },
)  # fmt: skip

CHARTS = {"fi": FINNISH_DEFAULTS, "bas": BAS_DEFAULTS}


def account_map(chart: str, overrides: Mapping | None = None) -> AccountMap:
    """A chart's default map with the merchant's own accounts over it: nested objects merge key by key, so
    {"output_vat": {"24": "2938"}} changes that one rate and keeps the rest. InvalidInput says what is wrong."""
    if chart not in CHARTS:
        raise InvalidInput(f"chart must be one of {', '.join(CHARTS)}, got {chart!r}", path="chart")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise InvalidInput("account map: accounts must be an object", path="")
    return AccountMap.from_dict(_merge(CHARTS[chart].to_dict(), overrides or {}))


def _merge(base: Mapping, over: Mapping) -> dict:
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
        merged[key] = _merge(base[key], value) if both else value
    return merged
