"""GET /healthz: is the database reachable, is the queue reachable. For load balancers and operators."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from integration.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {"database": _check(lambda: get_session().execute(text("SELECT 1"))),
              "redis": _check(lambda: current_app.extensions["tasks"].connect().ping())}  # fmt: skip
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", **checks}), 200 if healthy else 503


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as e:  # a probe reports, it never raises
        return f"unavailable ({type(e).__name__})"
