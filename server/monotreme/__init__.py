"""Monotreme, an automation hub's API. Scripts use `from monotreme import run, when, procedure`."""

from monotreme.scripting import procedure, run, run_async, when

__all__ = ["procedure", "run", "run_async", "when"]
