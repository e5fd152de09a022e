"""The HTTP/JSON door: the documented Platypush API, transcoded from the gRPC contract.

`transcoder/` is generic (any annotated RPC becomes a JSON route);
`platypush/` holds the endpoints that are not plain unary JSON, as adapters
that call RPCs; `invoker.py` reaches the services in-process or over gRPC;
`site.py` assembles the app."""
