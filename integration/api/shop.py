"""/api/v1/shop: the shop the key belongs to, and its return policy."""
from __future__ import annotations

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.schemas import PolicySchema, ShopOut
from integration.policy import ReturnPolicy

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
    merged = {**shop.policy, **body}
    shop.policy = ReturnPolicy.from_dict(merged).to_dict()
    ctx().session.commit()
    return shop
