"""Platypush's response envelope for an Execute, as JSON, keyed by the JSON
names of `monotreme.v1.ExecuteResponse` and `ActionResult` in the contract."""

from __future__ import annotations

import time
from typing import Any

from monotreme.ids import new_id
from monotreme.v1 import hub_pb2

_RESPONSE = {field.name: field.json_name for field in hub_pb2.ExecuteResponse.DESCRIPTOR.fields}
_RESULT = {field.name: field.json_name for field in hub_pb2.ActionResult.DESCRIPTOR.fields}


def envelope(request: hub_pb2.ExecuteRequest, origin: str, output: Any, errors: list[str]) -> dict[str, Any]:
    """The answer to `request`, keys in field order as the seed shows them;
    `output` must already be JSON as a Value carries it (values.as_value)."""
    return {
        _RESPONSE["id"]: request.id or new_id(),
        _RESPONSE["type"]: "response",
        _RESPONSE["target"]: request.origin,
        _RESPONSE["origin"]: origin,
        _RESPONSE["timestamp"]: time.time(),
        _RESPONSE["response"]: {_RESULT["output"]: output, _RESULT["errors"]: errors},
    }
