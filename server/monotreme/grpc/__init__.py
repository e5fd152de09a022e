"""Door: the method table served by grpc.aio, with health and reflection."""
