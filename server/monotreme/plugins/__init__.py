"""Core: the built-in plugins. Third-party plugins import their base from here:
`from monotreme.plugins import Plugin, PluginContext, action`."""

from monotreme.actions.plugin import Plugin, PluginContext, action

__all__ = ["Plugin", "PluginContext", "action"]


def builtin_plugins() -> list[type[Plugin]]:
    """The plugins that come with the hub (shell stays off unless the config enables it)."""
    from monotreme.plugins import event, file, http, inspect, logger, shell, utils, variable

    return [
        event.EventPlugin,
        file.FilePlugin,
        http.HttpPlugin,
        http.HttpRequestPlugin,
        inspect.InspectPlugin,
        logger.LoggerPlugin,
        shell.ShellPlugin,
        utils.UtilsPlugin,
        variable.VariablePlugin,
    ]
