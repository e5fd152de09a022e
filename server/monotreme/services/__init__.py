"""Services: the contract's RPCs implemented over the core, and the method table
that binds them. Door-neutral: a call comes in as a message and a `Call`, and
leaves as a message or a `ServiceError` (gRPC code and reason).

`table` and `execute` import nothing of the core, so a gateway in front of a
remote hub loads only them."""
