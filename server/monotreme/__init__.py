"""Monotreme, an automation hub's API. Scripts use `from monotreme import run, when, procedure, cron`.

Importing the package loads nothing else: the scripting API is resolved on
first use, so tools and the remote gateway that import a submodule stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monotreme.automation.schedules import cron
    from monotreme.automation.scripting import procedure, when
    from monotreme.library import run, run_async

__all__ = ["cron", "procedure", "run", "run_async", "when"]
_HOMES = {
    "cron": "monotreme.automation.schedules",
    "procedure": "monotreme.automation.scripting",
    "when": "monotreme.automation.scripting",
    "run": "monotreme.library",
    "run_async": "monotreme.library",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'monotreme' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
