"""The vendored Shopify Admin GraphQL schema, and the check every document sent to the sandbox shop passes."""
from __future__ import annotations

import functools
import gzip
import json
import threading
from pathlib import Path

__all__ = ["SCHEMA_FILE", "InvalidDocument", "checked_operation", "shopify_schema"]

CONTRACTS = Path(__file__).resolve().parent / "contracts"
SCHEMA_FILE = CONTRACTS / "shopify-admin-2026-10.introspection.json.gz"


class InvalidDocument(ValueError):
    """A GraphQL document the Admin schema refuses: Shopify answers its errors and runs nothing."""

    def __init__(self, errors: list):
        self.errors = errors
        super().__init__(f"document does not validate against the Admin schema: {errors}")


@functools.cache
def shopify_schema():
    """The Admin GraphQL schema, API version 2026-10, built once per process (about a second)."""
    from graphql import build_client_schema

    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as f:
        schema = build_client_schema(json.load(f)["data"])
    schema._validation_errors = []  # Shopify's schema breaks a graphql-core rule on deprecated interface fields
    return schema


_CHECKED: dict[tuple[int, str], str] = {}  # (schema, document) -> operation name: each document is validated once
_LOCK = threading.Lock()


def checked_operation(schema, query: str) -> str:
    """The document's operation name, once the document validates against `schema`; InvalidDocument if not."""
    from graphql import GraphQLError, OperationDefinitionNode, parse, validate

    key = (id(schema), query)
    with _LOCK:
        if key in _CHECKED:
            return _CHECKED[key]
    try:
        document = parse(query)
    except GraphQLError as e:
        raise InvalidDocument([e.formatted]) from None
    errors = validate(schema, document)
    if errors:
        raise InvalidDocument([e.formatted for e in errors])
    operation = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
    if operation is None or operation.name is None:
        raise InvalidDocument([{"message": "the sandbox answers named operations only"}])
    with _LOCK:
        _CHECKED[key] = operation.name.value
    return operation.name.value
