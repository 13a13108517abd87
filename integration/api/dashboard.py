"""/api/v1/dashboard-links: a one-time link that signs a shop's staff in to its dashboard."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app, request
from marshmallow import validate

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.schemas import Text, _In
from integration.dashboard.auth import create_login, login_url

bp = Blueprint("dashboard_links", __name__, url_prefix="/api/v1", description="Signing in to the dashboard")
bp.before_request(authenticate)


class DashboardLinkIn(_In):
    email = Text(validate=validate.Length(max=320), metadata={
        "description": "whom the link is for: kept with it for the record; Palautus sends nothing"})


class DashboardLinkOut(ma.Schema):
    url = ma.fields.String(required=True, metadata={"description": "opens the dashboard's sign-in; works once"})
    expires_at = ma.fields.DateTime(required=True, metadata={"description": "when it stops working (15 minutes)"})


@bp.post("/dashboard-links")
@bp.arguments(DashboardLinkIn, required=False)
@bp.response(201, DashboardLinkOut)
@bp.error_responses()
def create_link(body):
    """Make a sign-in link for the shop's dashboard: it works once, within 15 minutes

    Hand it to the person who should sign in (it is as good as a password until used). The body is optional.
    """
    token, expires_at = create_login(ctx().session, current_shop(), body.get("email") or None)
    base = str(current_app.config.get("PUBLIC_URL") or request.host_url)
    return {"url": login_url(token, base), "expires_at": expires_at}
