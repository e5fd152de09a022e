"""Platypush's documented endpoints, as adapters over the RPCs: `/execute`,
`/auth`, `/hook/<name>`, `/ws/events` and `/ws/requests`."""
