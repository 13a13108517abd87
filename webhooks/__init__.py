"""HTTP receivers for platform webhooks: verify, store, enqueue, answer. Nothing else."""
from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

from webhooks import shopify  # noqa: E402,F401  (registers the routes)

__all__ = ["bp"]
