"""The generic transcoder, as grpc-gateway's `runtime/`: routes from the
contract's `google.api.http` annotations (`routes`), query parameters and
credentials into the call (`query`, `metadata`), bodies and the proto3 JSON
codec (`body`, `codec`), one status table and error body (`errors`), the
unary and streaming handlers (`handler`), and the OpenAPI document
(`openapi`). It knows nothing of Platypush."""
