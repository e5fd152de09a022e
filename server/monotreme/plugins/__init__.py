"""Plugins: classes whose `@action` methods are the hub's actions."""

from monotreme.plugins.base import Plugin, action

__all__ = ["Plugin", "action"]
