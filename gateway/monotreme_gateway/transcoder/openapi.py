"""An OpenAPI 3 document of the REST surface, from the same descriptors and annotations as the routes."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from monotreme_gateway.transcoder.metadata import CREDENTIAL_PARAMS
from monotreme_gateway.transcoder.routes import Route

_SCALARS: dict[int, dict[str, str]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32"},
    # proto3 JSON writes 64-bit integers as strings.
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "any JSON value"},
}
_ERROR = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["code", "error", "message"],
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR}

    def ref(self, message: Descriptor) -> dict[str, Any]:
        if message.full_name in _WELL_KNOWN:
            return _WELL_KNOWN[message.full_name]
        name = message.full_name
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive messages
            self.components[name] = {
                "type": "object",
                "properties": {field.json_name: self.field(field) for field in message.fields},
            }
        return {"$ref": f"#/components/schemas/{name}"}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:
            schema = self.ref(field.message_type)
        elif field.enum_type is not None:
            schema = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        else:
            schema = dict(_SCALARS.get(field.type, {"type": "string"}))
        return {"type": "array", "items": schema} if field.is_repeated else schema


def _path_schema(schemas: _Schemas, request: Descriptor, variable: str) -> dict[str, Any]:
    descriptor: Descriptor | None = request
    *parents, name = variable.split(".")
    for parent in parents:
        field = descriptor.fields_by_name.get(parent) if descriptor else None
        descriptor = field.message_type if field else None
    field = descriptor.fields_by_name.get(name) if descriptor else None
    return schemas.field(field) if field else {"type": "string"}


def document(routes: list[Route]) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, Any] = {}
    for route in routes:
        descriptor = route.rpc.descriptor
        request = descriptor.input_type
        parameters: list[dict[str, Any]] = [
            {
                "name": variable,
                "in": "path",
                "required": True,
                "schema": _path_schema(schemas, request, variable),
            }
            for variable in route.variables
        ]
        operation: dict[str, Any] = {
            "operationId": f"{descriptor.containing_service.name}_{descriptor.name}",
            "tags": [descriptor.containing_service.name],
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "a stream of newline-delimited JSON results" if route.rpc.server_streaming
                    else "OK",
                    "content": {"application/json": {"schema": schemas.ref(descriptor.output_type)}},
                },
                "default": {
                    "description": "error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        }  # fmt: skip
        if route.body == "*":
            body_schema = schemas.ref(request)
        elif route.body:
            body_schema = schemas.field(request.fields_by_name[route.body])
        else:
            body_schema = None
            parameters += [
                {"name": field.json_name, "in": "query", "schema": schemas.field(field)}
                for field in request.fields
                if field.name not in route.variables and field.json_name not in CREDENTIAL_PARAMS
            ]
        if body_schema is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        paths.setdefault(route.template, {})[route.http_method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Monotreme", "version": "v1"},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token": {"type": "apiKey", "in": "header", "name": "X-Token"},
            },
        },
        "security": [{"bearer": []}, {"token": []}],
    }
