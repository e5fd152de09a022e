"""REST routes read from the `google.api.http` annotations of the contract's RPCs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.api import annotations_pb2
from monotreme.services.table import Method

_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:=\*)?\}")


@dataclass(frozen=True)
class Route:
    """One HTTP method and path template bound to an RPC."""

    http_method: str
    # The annotation's template: `/api/v1/tokens/{id}`.
    template: str
    # Path variables, as field paths (`id`, `event.id`).
    variables: tuple[str, ...]
    # "*" (the whole body is the request), a field name, or "" (no body: query parameters).
    body: str
    rpc: Method

    @property
    def resumable(self) -> bool:
        """Whether the RPC streams events a client can resume after: its request
        has `after`, its messages an `event` with an `id` (StreamEvents)."""
        rpc = self.rpc
        if not rpc.server_streaming or "after" not in rpc.request_type.DESCRIPTOR.fields_by_name:
            return False
        event = rpc.response_type.DESCRIPTOR.fields_by_name.get("event")
        return (
            event is not None and event.message_type is not None and "id" in event.message_type.fields_by_name
        )

    @property
    def aiohttp_path(self) -> str:
        """The template in aiohttp's syntax, variables named `v0`, `v1`..."""
        names = iter(range(len(self.variables)))
        return _VARIABLE.sub(lambda _: f"{{v{next(names)}}}", self.template)

    def variables_of(self, match_info: Mapping[str, str]) -> dict[str, str]:
        """The path variables aiohttp matched, by field path."""
        return {field: match_info[f"v{i}"] for i, field in enumerate(self.variables)}


def _route(http_method: str, template: str, body: str, rpc: Method) -> Route:
    return Route(http_method.upper(), template, tuple(_VARIABLE.findall(template)), body, rpc)


def routes(methods: dict[str, Method]) -> list[Route]:
    """Every annotated RPC's routes, additional bindings included."""
    found = []
    for rpc in methods.values():
        options = rpc.descriptor.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        for binding in (rule, *rule.additional_bindings):
            kind = binding.WhichOneof("pattern")
            if kind is None:
                continue
            if kind == "custom":
                found.append(_route(binding.custom.kind, binding.custom.path, binding.body, rpc))
            else:
                found.append(_route(kind, getattr(binding, kind), binding.body, rpc))
    return found
