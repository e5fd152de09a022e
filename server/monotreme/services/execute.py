"""Execute's answer, built in one place per form from the core's outcome: the
`ExecuteResponse` message (gRPC, and a remote gateway's source) and
Platypush's JSON envelope (HTTP `/execute` and `/ws/requests`), keyed by the
JSON names the contract gives `ExecuteResponse` and `ActionResult`."""

from __future__ import annotations

import time
from typing import Any

from monotreme.actions.outcome import ACTION_REFUSALS, Outcome
from monotreme.errors import ServiceError
from monotreme.ids import new_id
from monotreme.v1 import hub_pb2
from monotreme.values import fill_value, from_value

EXECUTE = "/monotreme.v1.HubService/Execute"
_RESPONSE = {field.name: field.json_name for field in hub_pb2.ExecuteResponse.DESCRIPTOR.fields}
_RESULT = {field.name: field.json_name for field in hub_pb2.ActionResult.DESCRIPTOR.fields}


def response(request: hub_pb2.ExecuteRequest, outcome: Outcome, origin: str) -> hub_pb2.ExecuteResponse:
    """The gRPC answer to `request` (a refused outcome is a status, not a response)."""
    message = hub_pb2.ExecuteResponse(
        id=request.id or new_id(),
        type="response",
        target=request.origin,
        origin=origin,
        timestamp=time.time(),
    )
    # Filled in place: a nested message given to the constructor is built, then copied (~3 µs).
    result = message.response
    if outcome.errors:
        result.errors.extend(outcome.errors)
    fill_value(result.output, outcome.output)
    return message


def envelope(request: hub_pb2.ExecuteRequest, outcome: Outcome, origin: str) -> dict[str, Any]:
    """Platypush's answer to `request`, keys in field order as the seed shows
    them; a refused outcome keeps the envelope, with its errors."""
    return {
        _RESPONSE["id"]: request.id or new_id(),
        _RESPONSE["type"]: "response",
        _RESPONSE["target"]: request.origin,
        _RESPONSE["origin"]: origin,
        _RESPONSE["timestamp"]: time.time(),
        _RESPONSE["response"]: {_RESULT["output"]: outcome.output, _RESULT["errors"]: outcome.errors},
    }


def outcome_of(answer: hub_pb2.ExecuteResponse | ServiceError) -> Outcome:
    """The outcome behind a remote Execute's answer: its response, or the
    status it was refused with; raises a refusal that is about the caller."""
    if isinstance(answer, ServiceError):
        if answer.reason not in ACTION_REFUSALS:
            raise answer
        return Outcome.refused(answer)
    return Outcome(from_value(answer.response.output), list(answer.response.errors))
