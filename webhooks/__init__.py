"""HTTP receivers for platform and payment-provider webhooks: verify, store, enqueue, answer. Nothing else."""
from flask import Blueprint, jsonify

from adapters.errors import SignatureError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.errorhandler(SignatureError)
def _unauthorized(error):
    # Say nothing about which part failed: the caller may be probing.
    return jsonify({"error": "unauthorized", "message": "webhook signature is missing or invalid"}), 401


from webhooks import payments, shopify, woocommerce  # noqa: E402,F401  (registers the routes)

__all__ = ["bp"]
