"""/api/v1/shop: the shop the key belongs to, its return policy, and disconnecting it."""
from __future__ import annotations

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.schemas import PolicySchema, ShopOut
from integration.services.shops import change_policy, uninstall_shop

bp = Blueprint("shop", __name__, url_prefix="/api/v1", description="The shop and its return policy")
bp.before_request(authenticate)


@bp.get("/shop")
@bp.response(200, ShopOut)
@bp.error_responses()
def get_shop():
    """The shop this API key belongs to"""
    return current_shop()


@bp.put("/shop/policy")
@bp.arguments(PolicySchema)
@bp.response(200, ShopOut)
@bp.error_responses()
def put_policy(body):
    """Change the return policy; settings left out keep their current value

    The body is required: no body, an empty one or one not sent as application/json is a 400,
    so a request that lost its body on the way is not taken for "change nothing". An explicit
    `{}` is accepted and changes nothing: it is a valid partial update that names no setting.
    """
    shop = current_shop()
    change_policy(ctx().session, shop, body)
    return shop


@bp.post("/shop/disconnect")
@bp.response(200, ShopOut)
@bp.error_responses()
def disconnect():
    """Disconnect the shop: its platform tokens and keys are forgotten at once, and this API key stops working

    Refunds already with a payment provider are still followed to their final status with the provider's key,
    which is forgotten once none is left. On Shopify, also remove the app in the Shopify admin (Shopify then
    revokes its token); a WooCommerce store may delete the REST key Palautus had in its settings.
    """
    from flask import current_app

    shop = current_shop()
    uninstall_shop(ctx().session, current_app.extensions["vault"], shop)
    return shop
