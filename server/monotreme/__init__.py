"""Monotreme: an automation hub API, gRPC first."""
