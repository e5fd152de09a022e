"""Query parameters into the request message's fields (`a.b=1` for nested ones)."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from monotreme_gateway.transcoder.errors import GatewayError
from monotreme_gateway.transcoder.metadata import CREDENTIAL_PARAMS


def _query_value(field: Any, value: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        return value.lower() in ("1", "true", "yes")
    return value  # the codec parses numbers from strings


def query_fields(message_type: type[Message], query: Any) -> dict[str, Any]:
    """The query as a JSON dict for `message_type`; 400 for a parameter it has no field for."""
    result: dict[str, Any] = {}
    for key in set(query.keys()) - CREDENTIAL_PARAMS:
        *parents, name = key.split(".")
        descriptor, target = message_type.DESCRIPTOR, result
        for parent in parents:
            field = descriptor.fields_by_name.get(parent)
            if field is None or field.message_type is None:
                raise GatewayError(400, "INVALID_ARGUMENT", f"unknown query parameter '{key}'")
            descriptor, target = field.message_type, target.setdefault(parent, {})
        field = descriptor.fields_by_name.get(name)
        if field is None:
            raise GatewayError(400, "INVALID_ARGUMENT", f"unknown query parameter '{key}'")
        values = [_query_value(field, v) for v in query.getall(key)]
        target[name] = values if field.is_repeated else values[-1]
    return result
