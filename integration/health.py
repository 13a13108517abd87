"""Probes for load balancers, orchestrators and operators.

GET /healthz: the database and Redis are reachable (503 when either is not).
GET /livez: the process answers; nothing else (a restart would not help a database outage).
GET /readyz: /healthz, and the database's schema is the code's (Alembic's head): a process started before its
migration ran, or on a database a newer release migrated, is not ready for traffic.
"""
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


@bp.get("/livez")
def livez():
    return jsonify({"status": "alive"}), 200


@bp.get("/readyz")
def readyz():
    checks = {"database": _check(lambda: get_session().execute(text("SELECT 1"))),
              "redis": _check(lambda: current_app.extensions["tasks"].connect().ping()),
              "schema": _schema()}  # fmt: skip
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", **checks}), 200 if ready else 503


_HEAD: list[str] = []  # the code's newest migration, read once per process


def _schema() -> str:
    try:
        if not _HEAD:
            from alembic.script import ScriptDirectory

            from integration.migrate import alembic_config

            _HEAD.append(ScriptDirectory.from_config(alembic_config("")).get_current_head())
        current = get_session().execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as e:  # a probe reports, it never raises
        return f"unavailable ({type(e).__name__})"
    return "ok" if current == _HEAD[0] else f"at {current}, the code needs {_HEAD[0]}: run the migrations"


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as e:  # a probe reports, it never raises
        return f"unavailable ({type(e).__name__})"
