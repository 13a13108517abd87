"""One place maps every error to HTTP, with one JSON shape: {"error", "message", "details"?}."""
from __future__ import annotations

import http
import logging
import threading
from functools import wraps

import marshmallow as ma
from flask import jsonify, request
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest import abort
from flask_smorest.pagination import PaginationMetadataSchema
from flask_smorest.spec import openapi_cli
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from adapters.errors import PayloadError, SignatureError
from integration.errors import Conflict, InvalidInput, NotFound, PalautusError

__all__ = [
    "Api", "Blueprint", "ErrorSchema", "UNAUTHORIZED",
    "error_response", "register_error_handlers", "register_error_docs",
]  # fmt: skip

logger = logging.getLogger(__name__)

STATUS = {NotFound: 404, InvalidInput: 400, Conflict: 409, PayloadError: 400, SignatureError: 401}
UNAUTHORIZED = "BEARER_REQUIRED"  # the 401 response every operation documents, with its WWW-Authenticate
TOO_MANY = "RATE_LIMITED"  # the 429 every operation documents: API_RATE_LIMIT per key, FAILED_AUTH_LIMIT per address
BODY_REQUIRED = "a JSON object body is required (Content-Type: application/json)"
_LOCATIONS = {"json", "query", "headers", "path"}


class ErrorSchema(ma.Schema):
    """Every error answer, documented once."""

    error = ma.fields.String(required=True, metadata={"description": "machine-readable code", "example": "not_found"})
    message = ma.fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    details = ma.fields.Dict(metadata={"description": "per-field problems, when the input had some"})


class _Parser(FlaskParser):
    """webargs, answering 400 for input it cannot use, as everywhere else in the service (not 422)."""

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError as e:  # "[[[[..." deeper than the decoder goes: unreadable, like a syntax error
            return self._handle_invalid_json_error(e, req)


class _ArgumentsParser(_Parser):
    # A misspelt query parameter (?stauts=failed) is an error too, not a filter silently dropped.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}
    PAGE_KEYS = ("page", "page_size")

    def load_querystring(self, req, schema):
        """The query without the pagination keys, which the pagination parser reads from the same string."""
        own = MultiDict([(k, v) for k, v in req.args.items(multi=True) if k not in self.PAGE_KEYS])
        return self._makeproxy(own, schema)


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = _ArgumentsParser()
    PAGINATION_ARGUMENTS_PARSER = _Parser()  # ?page=0 is a 400 too

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        """flask-smorest's arguments, where a required JSON body (documented so by default) is enforced too.

        webargs reads a missing body as `{}`, so an empty PUT would pass for "change nothing"
        while the document says the body is required. Pass `required=False` where it is optional.
        """
        parse = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return parse
        return lambda view: _body_required(parse(view))

    def error_responses(self, *statuses: int):
        """Document the error answers an operation gives (401 and 429 always), all in the one error shape."""

        def decorator(func):
            func = self.alt_response(401, UNAUTHORIZED)(func)
            func = self.alt_response(429, TOO_MANY)(func)
            for status in statuses:
                func = self.alt_response(status, http.HTTPStatus(status).name)(func)
            return func

        return decorator


def _body_required(view):
    """400 before parsing when there is no JSON body at all: nothing sent, blank, or not application/json."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not (request.is_json and request.get_data(cache=True).strip()):
            abort(400, messages={"json": [BODY_REQUIRED]})
        return view(*args, **kwargs)

    return wrapper


class Api(_Api):
    """flask-smorest's Api, whose OpenAPI document is built when first asked for, not with the app.

    Building it (every schema of every operation through apispec) costs more than the rest of `create_app`, and
    only the document needs it: requests are parsed and answered by the views' own schemas. So each step that
    writes the document is kept, in order, and the steps run on the first read of `spec` (GET openapi.json, the
    docs page, `flask openapi`): the same steps in the same order, so the same document. A step given once the
    document is built runs at once. Steps write into `spec`, so code that adds to the document goes through
    `document(step)`; reading `api.spec` gives the whole document.
    """

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app=None, **kwargs):
        self._steps: list | None = []  # None once the document is built
        self._building = False
        self._failed: Exception | None = None
        self._build_lock = threading.RLock()  # two first requests at once: one builds, the other waits for it
        self._spec = None
        super().__init__(app, **kwargs)

    @property
    def spec(self):
        if self._steps is not None:
            with self._build_lock:
                if self._failed is not None:
                    raise RuntimeError("the OpenAPI document could not be built") from self._failed
                if self._steps is not None and not self._building:  # a step that reads `spec` gets it as it is
                    self._building = True
                    try:
                        for step in self._steps:
                            step()
                    except Exception as e:
                        self._failed = e  # never half a document: each later read fails the same way
                        raise
                    finally:
                        self._building = False
                    self._steps = None
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec = value

    def document(self, step) -> None:
        """Run `step()` (which writes into `spec`) when the document is built; at once if it is."""
        with self._build_lock:
            if self._steps is None:
                step()
            else:
                self._steps.append(step)

    def _init_spec(self, **kwargs):
        self._app.cli.add_command(openapi_cli)  # `flask openapi ...` is there from the start
        self.document(lambda: super(Api, self)._init_spec(**kwargs))

    def register_field(self, field, *args):
        self.document(lambda: super(Api, self).register_field(field, *args))

    def register_converter(self, converter, func):
        self.document(lambda: super(Api, self).register_converter(converter, func))

    def register_blueprint(self, blp, *, parameters=None, **options):
        """flask-smorest's, the blueprint registered now and documented with the document."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def _document():
            blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
            self._spec.tag({"name": name, "description": blp.description})

        self.document(_document)

    def handle_http_exception(self, error):
        return _http_error(error)

    def _register_pagination_header(self):
        # X-Pagination carries JSON text ({"total": 3, ...}). A header documented with a bare object
        # `schema` means OpenAPI's "simple" style (total,3,page,1), which no client could read from
        # what we send: `content` is how OpenAPI 3 says "this header is JSON of this schema".
        self.spec.components.header("PAGINATION", {
            "description": "Pagination metadata, as JSON",
            "content": {"application/json": {"schema": PaginationMetadataSchema}},
        }, lazy=True)  # fmt: skip


def error_response(status: int, code: str, message: str, details=None, headers=None):
    """The one error shape: {"error", "message"}, and "details" when there are some."""
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(body), status, headers or {}


def register_error_docs(api) -> None:
    """Add the documented 401 and 429 (component responses, so each operation only refers to them)."""
    api.document(lambda: _error_docs(api.spec))


def _error_docs(spec) -> None:
    spec.components.response(UNAUTHORIZED, {
        "description": "No API key, or one that belongs to no installed shop",
        "content": {"application/json": {"schema": ErrorSchema}},
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="palautus"'}},
    })  # fmt: skip
    spec.components.response(TOO_MANY, {
        "description": "Too many calls with this API key (API_RATE_LIMIT), or too many without a valid key from this "
                       "address; wait as long as Retry-After says",
        "content": {"application/json": {"schema": ErrorSchema}},
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    })  # fmt: skip


def _http_error(error: HTTPException):
    data = getattr(error, "data", None) or {}
    details = _details(data.get("messages") or data.get("errors"))
    message = data.get("message") or error.description or error.name
    if details:
        message = "the request is not valid: " + _summary(details)
    code = error.name.lower().replace(" ", "_")
    return error_response(error.code or 500, code, message, details, _headers(error, data))


def _headers(error: HTTPException, data: dict) -> list:
    """The headers the error itself carries (a 405's Allow, RFC 9110), less its HTML content type."""
    own = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return own + list((data.get("headers") or {}).items())


def _details(messages):
    """webargs files problems under their location; with one location, drop that level. Always a dict."""
    if not messages:
        return None
    if isinstance(messages, dict) and len(messages) == 1 and set(messages) <= _LOCATIONS:
        [(location, inner)] = messages.items()
        # A body that is not JSON at all, or not an object, has no field to name: call it the body.
        return inner if isinstance(inner, dict) else {"body" if location == "json" else location: inner}
    return messages if isinstance(messages, dict) else {"request": messages}


def _summary(details, prefix="") -> str:
    if isinstance(details, dict):
        # "_schema" is marshmallow's name for "the object itself": name the object instead.
        return "; ".join(_summary(v, prefix if k == "_schema" else f"{prefix}{k}.") for k, v in details.items())
    where = prefix.rstrip(".") or "body"
    if isinstance(details, list) and all(isinstance(v, str) for v in details):
        return f"{where}: {' '.join(details)}"
    return f"{where}: {details}"


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

    @app.errorhandler(StaleDataError)
    def _changed_meanwhile(error):
        return error_response(409, "conflict", "the return was changed by another request at the same moment; reload it and try again")

    @app.errorhandler(Exception)
    def _unexpected(error):
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side")
