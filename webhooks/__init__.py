"""HTTP receivers for platform and payment-provider webhooks: verify, store, enqueue, answer. Nothing else."""
from flask import Blueprint, jsonify

from adapters.errors import SignatureError
from integration.limits import failed_check

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.errorhandler(SignatureError)
def _unauthorized(error):
    # Say nothing about which part failed: the caller may be probing. One probing too often is slowed down;
    # a correctly signed delivery from the same address is still taken (it never comes here).
    if failed_check("webhook signature"):
        return jsonify({"error": "too_many_requests", "message": "too many deliveries with a bad signature came "
                        "from this address; wait a minute"}), 429, {"Retry-After": "60"}  # fmt: skip
    return jsonify({"error": "unauthorized", "message": "webhook signature is missing or invalid"}), 401


from webhooks import payments, shopify, woocommerce  # noqa: E402,F401  (registers the routes)

__all__ = ["bp"]
