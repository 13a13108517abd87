"""/api/v1/privacy: a customer's data export and erasure, on the merchant's request, for any platform.

The same services answer a platform's own privacy webhooks (where it has them); every request, from either, is
listed here, and a data request's export can be fetched here.
"""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from marshmallow import validate
from sqlalchemy import select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.paging import page
from integration.api.schemas import Text, _In
from integration.errors import NotFound
from integration.models import PrivacyRequest
from integration.services import privacy
from integration.services.shops import clear_alert

__all__ = ["bp", "SubjectIn", "PrivacyRequestOut", "PrivacyRequestSummary", "PrivacyQuery"]

REQUEST = "/privacy/requests/<int(min=1, max=2147483647):request_id>"
# An address with one @ and no spaces (NUL excluded, as everywhere): enough to find it, as given, in the shop's data.
# The spaces are named, not \s: Python's \s also matches \x1c-\x1f, the document's (ECMA's) does not.
EMAIL = r"^[^@ \t\n\r\f\v\x00]+@[^@ \t\n\r\f\v\x00]+$"


class SubjectIn(_In):
    """Whom a privacy request is about: at least one of the three (documented as minProperties: 1)."""

    email = Text(validate=[validate.Length(min=3, max=320), validate.Regexp(EMAIL)],
                 metadata={"pattern": EMAIL, "description": "the customer's e-mail address (matched case-insensitively)",
                           "example": "aino.virtanen@example.com"})  # fmt: skip
    customer_id = Text(validate=validate.Length(min=1, max=64), metadata={"description": (
        "the customer's id on the shop's platform: Palautus keeps no customer records, so it finds only the webhook "
        "deliveries that name it; give the e-mail or the order ids too")})  # fmt: skip
    order_ids = ma.fields.List(
        Text(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(min=1, max=250), metadata={"description": "the platform's ids of the customer's orders"},
    )  # fmt: skip

    @ma.validates_schema
    def _someone(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("name the customer: an email, a customer_id or order_ids")


class PrivacyQuery(_In):
    kind = Text(validate=validate.OneOf([k.value for k in privacy.PrivacyKind]))


class PrivacyRequestSummary(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "customer_data_request, customer_redact or shop_redact"})
    source = ma.fields.String(metadata={"description": "the platform that asked (its name), or merchant_api"})
    status = ma.fields.String(metadata={"description": "received, done or failed"})
    email = ma.fields.String(attribute="customer_email", allow_none=True, metadata={"description": (
        "the e-mail the request named; none on an erasure, and none once the customer's data was erased")})
    customer_id = ma.fields.String(attribute="platform_customer_id", allow_none=True)
    request_id = ma.fields.String(attribute="platform_request_id", allow_none=True,
                                  metadata={"description": "the platform's id of the data request"})  # fmt: skip
    order_ids = ma.fields.List(ma.fields.String(), attribute="orders")
    error = ma.fields.String(allow_none=True, metadata={"description": "why it failed"})
    created_at = ma.fields.DateTime()
    completed_at = ma.fields.DateTime(allow_none=True)


class PrivacyRequestOut(PrivacyRequestSummary):
    export = ma.fields.Dict(allow_none=True, metadata={"description": (
        "a data request's export: the customer's orders (lines, payments, refunds made in the shop), returns (items, "
        "reasons and notes, timeline, refunds with their VAT) and the webhook deliveries that name them (by the "
        "whole e-mail address, never a longer one holding it); `erased_since` counts what was taken out of it "
        "because another customer it concerned was erased since; none once the shop uninstalled. On an erasure, "
        "what was erased, counted")})  # fmt: skip


class _PrivacyBlueprint(Blueprint):
    def register_views_in_doc(self, api, app, spec, *, name, parameters):
        # "At least one of email, customer_id, order_ids": in JSON Schema, an object with at least one property
        # (none of them may be null or empty), which marshmallow cannot say by itself.
        if "PrivacySubject" not in spec.components.schemas:
            spec.components.schema("PrivacySubject", {"minProperties": 1}, schema=SubjectIn)
        super().register_views_in_doc(api, app, spec, name=name, parameters=parameters)


bp = _PrivacyBlueprint("privacy", __name__, url_prefix="/api/v1",
                       description="Customers' data requests and erasures (privacy law)")  # fmt: skip
bp.before_request(authenticate)


def _subject(body: dict) -> dict:
    return {"email": body.get("email"), "platform_customer_id": body.get("customer_id"),
            "order_ids": body.get("order_ids", ())}  # fmt: skip


@bp.post("/privacy/exports")
@bp.arguments(SubjectIn)
@bp.response(201, PrivacyRequestOut)
@bp.error_responses()
def export(body):
    """Everything Palautus holds on a customer of the shop, as JSON: kept on the request, to fetch again later"""
    return privacy.request_export(ctx().session, current_shop(), source=privacy.MERCHANT_API, **_subject(body))


@bp.post("/privacy/redactions")
@bp.arguments(SubjectIn)
@bp.response(201, PrivacyRequestOut)
@bp.error_responses()
def redact(body):
    """Erase a customer's personal data (e-mail, notes, the deliveries that carry them); refunds, amounts and VAT stay"""
    return privacy.request_redaction(ctx().session, current_shop(), source=privacy.MERCHANT_API, **_subject(body))


@bp.route("/privacy/requests")
class PrivacyRequests(MethodView):
    @bp.arguments(PrivacyQuery, location="query")
    @bp.response(200, PrivacyRequestSummary(many=True))
    @bp.error_responses()
    @bp.paginate()
    def get(self, args, pagination_parameters):
        """The shop's privacy requests, the platform's and the merchant's, newest first"""
        query = select(PrivacyRequest).where(PrivacyRequest.shop_id == current_shop().id)
        if "kind" in args:
            query = query.where(PrivacyRequest.kind == args["kind"])
        return page(query.order_by(PrivacyRequest.id.desc()), pagination_parameters)


@bp.get(REQUEST)
@bp.response(200, PrivacyRequestOut)
@bp.error_responses(404)
def get_request(request_id):
    """One privacy request, with a data request's export; fetching it clears the shop's alert about it"""
    c, shop = ctx(), current_shop()
    row = c.session.get(PrivacyRequest, request_id)
    if row is None or row.shop_id != shop.id:
        raise NotFound(f"privacy request {request_id} not found")
    if privacy.alert_kind(row) in (shop.alerts or {}):
        clear_alert(shop, privacy.alert_kind(row))
        c.session.commit()
    return row
