"""REST routes read from the `google.api.http` annotations of the contract's RPCs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.api import annotations_pb2
from monotreme.rpc import Method

# Query parameters that carry credentials (`?token=`), never request fields.
CREDENTIAL_PARAMS = frozenset({"token"})
_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:=\*)?\}")


@dataclass(frozen=True)
class Route:
    """One HTTP method and path template bound to an RPC."""

    http_method: str
    template: str
    pattern: re.Pattern[str]
    # Path variables, as field paths (`id`, `event.id`).
    variables: tuple[str, ...]
    # "*" (the whole body is the request), a field name, or "" (no body: query parameters).
    body: str
    rpc: Method

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        if found is None:
            return None
        return {field: found[f"v{i}"] for i, field in enumerate(self.variables)}


def _route(http_method: str, template: str, body: str, rpc: Method) -> Route:
    variables: list[str] = []

    def group(match: re.Match[str]) -> str:
        variables.append(match[1])
        return f"(?P<v{len(variables) - 1}>[^/]+)"

    regex = "".join(
        group(m) if (m := _VARIABLE.fullmatch(part)) else re.escape(part)
        for part in re.split(r"(\{[^}]*\})", template)
    )
    return Route(http_method.upper(), template, re.compile(f"^{regex}$"), tuple(variables), body, rpc)


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
