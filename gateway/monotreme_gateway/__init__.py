"""The HTTP/JSON door: the documented Platypush API, transcoded from the gRPC contract."""
