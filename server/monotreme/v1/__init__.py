"""Code generated from proto/monotreme/v1 by scripts/generate.py."""
