"""One place maps every error to HTTP, with one JSON shape: {"error", "message", "details"?}."""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import jsonify
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from sqlalchemy.exc import InterfaceError, OperationalError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from adapters.errors import PayloadError, SignatureError
from integration.errors import Conflict, InvalidInput, NotFound, PalautusError

__all__ = ["Api", "Blueprint", "ErrorSchema", "error_response", "register_error_handlers"]

logger = logging.getLogger(__name__)

STATUS = {NotFound: 404, InvalidInput: 400, Conflict: 409, PayloadError: 400, SignatureError: 401}


class ErrorSchema(ma.Schema):
    """Every error answer, documented once."""

    error = ma.fields.String(required=True, metadata={"description": "machine-readable code", "example": "not_found"})
    message = ma.fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    details = ma.fields.Dict(metadata={"description": "per-field problems, when the input had some"})


class _Parser(FlaskParser):
    # A body of the wrong shape is a bad request (400), as everywhere else in the service.
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = _Parser()


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return _http_error(error)


def error_response(status: int, code: str, message: str, details=None, headers=None):
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(body), status, headers or {}


def _http_error(error: HTTPException):
    data = getattr(error, "data", None) or {}
    details = data.get("messages") or data.get("errors")
    if isinstance(details, dict) and set(details) <= {"json", "query", "headers", "path"} and len(details) == 1:
        details = next(iter(details.values()))
    message = data.get("message") or error.description or error.name
    if details:
        message = "the request is not valid: " + _summary(details)
    code = error.name.lower().replace(" ", "_")
    return error_response(error.code or 500, code, message, details, data.get("headers"))


def _summary(details, prefix="") -> str:
    if isinstance(details, dict):
        return "; ".join(_summary(v, f"{prefix}{k}.") for k, v in details.items())
    if isinstance(details, list) and all(isinstance(v, str) for v in details):
        return f"{prefix.rstrip('.')}: {' '.join(details)}"
    return f"{prefix.rstrip('.')}: {details}"


def register_error_handlers(app) -> None:
    """Map our error types to HTTP; anything unexpected is a 500 that tells nothing."""

    @app.errorhandler(PalautusError)
    @app.errorhandler(PayloadError)
    @app.errorhandler(SignatureError)
    def _known(error):
        status = next(s for cls, s in STATUS.items() if isinstance(error, cls))
        code = getattr(error, "code", None) or ("unauthorized" if status == 401 else "bad_request")
        details = {k: v for k, v in getattr(error, "data", {}).items() if isinstance(v, (str, int))}
        return error_response(status, code, str(error), details or None)

    @app.errorhandler(HTTPException)
    def _http(error):
        return _http_error(error)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(error):
        logger.error("database unavailable: %s", type(error.orig).__name__ if error.orig else type(error).__name__)
        return error_response(503, "unavailable", "the service is briefly unavailable; try again", headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(error):
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side")
