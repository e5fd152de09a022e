"""`file`: Platypush's file actions, with its argument names, confined to root
directories (`file: {roots: [...]}`; by default `files` in the data directory).

Every path is resolved (symlinks and `..` followed) before it is used, and one
outside the roots is refused: the hub's users need not be trusted with the
whole file system. The actions are sync, so the dispatcher runs their blocking
I/O on a worker thread, off the event loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
from pathlib import Path
from typing import Any

from monotreme.actions.plugin import Plugin, action
from monotreme.errors import PermissionDenied


class FilePlugin(Plugin):
    name = "file"

    def __init__(self, roots: list[str] | None = None) -> None:
        """:param roots: The directories the actions may read and change, with
        everything below them; relative ones are relative to the config file.
        Default: ``files`` in the data directory (the data directory itself
        holds the hub's database and signing key)."""
        self._configured = roots
        self.roots: tuple[Path, ...] = ()

    async def start(self) -> None:
        self.roots = await asyncio.to_thread(self._resolve_roots)

    def _resolve_roots(self) -> tuple[Path, ...]:
        config = self.context.config
        if self._configured is None:
            default = config.data_dir / "files"
            default.mkdir(parents=True, exist_ok=True)
            return (default.resolve(),)
        base = config.source.parent if config.source else Path.cwd()
        return tuple((base / Path(root).expanduser()).resolve() for root in self._configured)

    def path(self, path: str) -> Path:
        """The real path of `path` (a relative one is relative to the first root),
        or PermissionDenied naming it and the roots when it lies outside them."""
        given = Path(path).expanduser()
        if not given.is_absolute() and self.roots:
            given = self.roots[0] / given
        real = given.resolve()
        if any(real.is_relative_to(root) for root in self.roots):
            return real
        resolved = "" if real == given else f" (resolves to {str(real)!r})"
        roots = ", ".join(repr(str(root)) for root in self.roots) or "none configured"
        raise PermissionDenied(
            f"{path!r}{resolved} is outside the file plugin's roots: {roots}", reason="PATH_OUTSIDE_ROOTS"
        )

    def _below_root(self, path: str) -> Path:
        """As `path`, for removing or renaming: a root itself is refused."""
        real = self.path(path)
        if real in self.roots:
            raise PermissionDenied(f"{path!r} is one of the file plugin's roots", reason="PATH_IS_ROOT")
        return real

    @action
    def read(self, file: str) -> str:
        """Answers the content of a text file (UTF-8), read whole: for small files.

        :param file: Path of the file.
        """
        return self.path(file).read_text(encoding="utf-8")

    @action
    def write(self, file: str, content: Any) -> None:
        """Writes a text file, replacing what it held.

        :param file: Path of the file.
        :param content: Text to write; anything else is written as JSON.
        """
        self.path(file).write_text(_text(content), encoding="utf-8")

    @action
    def append(self, file: str, content: Any) -> None:
        """Appends to a text file, creating it if needed.

        :param file: Path of the file.
        :param content: Text to append; anything else is appended as JSON.
        """
        with self.path(file).open("a", encoding="utf-8") as f:
            f.write(_text(content))

    @action
    def getsize(self, file: str) -> int:
        """Answers the size of a file in bytes.

        :param file: Path of the file.
        """
        return self.path(file).stat().st_size

    @action
    def mkdir(self, directory: str, exist_ok: bool = True, parents: bool = True, mode: int = 0o755) -> None:
        """Creates a directory.

        :param directory: Path of the directory.
        :param exist_ok: Whether an existing directory is fine (else an error).
        :param parents: Whether missing parent directories are created too (``mkdir -p``).
        :param mode: Permissions of the new directories (default 0755, i.e. 493).
        """
        self.path(directory).mkdir(mode=mode, parents=parents, exist_ok=exist_ok)

    @action
    def rmdir(self, directory: str, recursive: bool = False) -> None:
        """Removes a directory, which must be empty unless ``recursive``.

        :param directory: Path of the directory.
        :param recursive: Whether to remove everything it holds as well.
        """
        real = self._below_root(directory)
        if recursive:
            shutil.rmtree(real)
        else:
            real.rmdir()

    @action
    def rename(self, file: str, name: str) -> None:
        """Renames or moves a file or directory.

        :param file: Path of the file.
        :param name: Its new path.
        """
        self._below_root(file).rename(self._below_root(name))

    @action
    def copy(self, source: str, target: str) -> None:
        """Copies a file.

        :param source: Path of the file to copy.
        :param target: Path of the copy, or a directory to copy it into.
        """
        real, destination = self.path(source), self.path(target)
        if destination.is_dir():  # the copy's own path must be checked: it may be a symlink
            destination = self.path(str(destination / real.name))
        shutil.copyfile(real, destination)
        shutil.copymode(real, destination)

    @action
    def touch(self, file: str, mode: int = 0o644) -> None:
        """Creates a file, or updates its modification time if it exists.

        :param file: Path of the file.
        :param mode: Permissions of a new file (default 0644, i.e. 420).
        """
        self.path(file).touch(mode=mode)

    @action
    def list(self, path: str | None = None, sort: str = "name", reverse: bool = False) -> Any:
        """Lists a directory (directories first), or describes one file, as
        Platypush does: each entry has ``type`` (``file`` or ``directory``),
        ``path``, ``name``, ``size``, ``last_modified``, ``created``,
        ``permissions``, ``owner`` and ``group``.

        :param path: The directory or file; the first root when omitted.
        :param sort: ``name``, ``size``, ``last_modified`` or ``created``.
        :param reverse: Whether to sort in descending order.
        """
        if sort not in _SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(_SORT_KEYS)}, not {sort!r}")
        real = self.path(path or ".")
        if not real.is_dir():
            return [_describe(real)]
        entries = [_describe(entry) for entry in real.iterdir()]
        return sorted(entries, key=lambda e: (e["type"], e.get(sort) or 0), reverse=reverse)


_SORT_KEYS = ("name", "size", "last_modified", "created")


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content)


def _describe(path: Path) -> dict[str, Any]:
    try:
        info = path.stat()  # FileNotFoundError names a missing path
    except FileNotFoundError:
        if not path.is_symlink():
            raise
        info = path.lstat()  # a dangling link in a directory: listed as itself
    return {
        "type": "directory" if stat.S_ISDIR(info.st_mode) else "file",
        "path": str(path),
        "name": path.name,
        "size": info.st_size,
        "last_modified": info.st_mtime,
        "created": info.st_ctime,
        "permissions": stat.filemode(info.st_mode),
        "owner": info.st_uid,
        "group": info.st_gid,
    }
