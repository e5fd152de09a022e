"""`monotreme backup` and `monotreme restore`: a consistent copy of what a hub
keeps (users, tokens, sessions, variables, in its store) and its secrets (the
JWT signing key), taken while the hub runs, into one archive.

A SQLite store is copied with SQLite's online backup API, which reads a
consistent snapshot without stopping writers (WAL); a PostgreSQL store with
`pg_dump` (one snapshot too), restored with `pg_restore` into an empty
database. Secrets are copied as they are. Restoring into an empty data dir
(and database) gives a hub on which every token still works.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from monotreme.errors import ConfigError
from monotreme.identity.jwts import KEY_FILE
from monotreme.store.sqlite import DATABASE

SECRETS = (KEY_FILE,)
# A PostgreSQL store's dump (pg_dump's custom format) in the archive.
DUMP = "store.pgdump"
_MANIFEST = "manifest.json"
_FORMAT = 1


def backup(data_dir: Path, archive: Path, store_url: str | None = None) -> list[str]:
    """Writes `archive` (a .tar.gz, mode 0600) from the hub's data dir and
    store (`store_url`, else SQLite in the data dir); answers the files it holds."""
    with tempfile.TemporaryDirectory() as scratch:
        if store_url:
            copy = Path(scratch) / DUMP
            _postgres_client("pg_dump", store_url, "--format=custom", f"--file={copy}")
        else:
            copy = Path(scratch) / DATABASE
            _sqlite_backup(data_dir, copy)
        secrets = [name for name in SECRETS if (data_dir / name).is_file()]
        files = [copy.name, *secrets]
        manifest = {"format": _FORMAT, "created_at": time.time(), "files": files}
        descriptor = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file, tarfile.open(fileobj=file, mode="w:gz") as tar:
            _add_bytes(tar, _MANIFEST, json.dumps(manifest).encode())
            tar.add(copy, arcname=copy.name)
            for name in secrets:
                tar.add(data_dir / name, arcname=name)
    return files


def restore(archive: Path, data_dir: Path, store_url: str | None = None) -> list[str]:
    """Unpacks `archive` into `data_dir`, which must be empty or absent, and
    its store into `store_url`'s database (which must hold no hub), else
    into the data dir; answers the files restored."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(None, "data dir", f"{data_dir} is not empty: restore into an empty data dir")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            contents = {name: _read(tar, archive, name) for name in _files(tar, archive)}
    except (OSError, tarfile.TarError) as e:
        raise ConfigError(archive, "(file)", f"not a Monotreme backup: {e}") from None
    if (DUMP in contents) != bool(store_url):
        kind = "PostgreSQL" if DUMP in contents else "SQLite"
        needs = "--store postgresql://..." if DUMP in contents else "no --store (SQLite, in the data dir)"
        raise ConfigError(archive, "(file)", f"a backup of a {kind} store: restore it with {needs}")
    if store_url:
        with tempfile.TemporaryDirectory() as scratch:
            dump = Path(scratch) / DUMP
            dump.write_bytes(contents.pop(DUMP))
            # One transaction, stopping at the first error: into a database
            # that holds a hub already, nothing is restored.
            _postgres_client("pg_restore", store_url, "--single-transaction", "--exit-on-error", str(dump))
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, data in contents.items():
        descriptor = os.open(data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
    return [*([DUMP] if store_url else []), *contents]


def _sqlite_backup(data_dir: Path, copy: Path) -> None:
    database = data_dir / DATABASE
    if not database.is_file():
        raise ConfigError(None, "data dir", f"{data_dir} holds no hub ({DATABASE} is missing)")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _postgres_client(program: str, store_url: str, *args: str) -> None:
    """Runs pg_dump or pg_restore on the store's database; its password goes
    in the environment, never on a command line others can read."""
    from monotreme.store.postgres import client_connection  # psycopg loads only for it

    path = shutil.which(program)
    if path is None:
        raise ConfigError(
            None, "store.url", f"{program} is not installed (apt-get install postgresql-client)"
        )
    conninfo, environment = client_connection(store_url)
    done = subprocess.run(
        [path, f"--dbname={conninfo}", "--no-owner", *args],
        env={**os.environ, **environment},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        reason = done.stderr.strip().splitlines()
        raise ConfigError(None, "store.url", f"{program} failed: {reason[0] if reason else done.returncode}")


def _read(tar: tarfile.TarFile, archive: Path, name: str) -> bytes:
    # Only the names a backup writes: never a path taken from the archive.
    if name not in (DATABASE, DUMP, *SECRETS):
        raise ConfigError(archive, name, "unexpected file in the backup")
    member = tar.extractfile(name)
    if member is None:
        raise ConfigError(archive, name, "missing from the backup")
    return member.read()


def _files(tar: tarfile.TarFile, archive: Path) -> list[str]:
    """The files the archive's manifest lists."""
    try:
        member = tar.extractfile(_MANIFEST)
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError):
        manifest = None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != _FORMAT
        or not isinstance(manifest.get("files"), list)
    ):
        raise ConfigError(archive, _MANIFEST, f"not a Monotreme backup of format {_FORMAT}")
    return [str(name) for name in manifest["files"]]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))
