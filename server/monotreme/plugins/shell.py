"""`shell`: run a command. Off unless the config enables it (`shell: {enabled: true}`);
admins only."""

from __future__ import annotations

import asyncio

from monotreme.actions.plugin import Plugin, action


class ShellPlugin(Plugin):
    name = "shell"
    enabled_by_default = False
    # A command runs as the hub's own user: only admins may run one.
    admin_only = True

    def __init__(self, timeout: float = 60.0) -> None:
        """:param timeout: Default time limit of a command, in seconds."""
        self._timeout = timeout

    @action
    async def exec(self, cmd: str, timeout: float | None = None) -> str:  # noqa: ASYNC109 (an action argument)
        """Runs a shell command and answers its standard output.

        :param cmd: The command line, run by ``/bin/sh``.
        :param timeout: Time limit in seconds; the plugin's default when omitted.
        """
        process = await asyncio.create_subprocess_shell(
            cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout or self._timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"command timed out after {timeout or self._timeout} s") from None
        if process.returncode:
            raise RuntimeError(
                f"command exited with {process.returncode}: {stderr.decode(errors='replace').strip()}"
            )
        return stdout.decode(errors="replace")
