"""Copy a PostgreSQL database in: `pg_dump` of a source URL, `pg_restore` into a project.

Both programs come from the embedded wheel (PostgreSQL 18). The dump is custom format, so
restoring it runs no psql meta-command a hostile source could plant; it is restored
with --no-owner --no-privileges as the role of the target URL (the new project's own
role: never more privilege than the project's), in one transaction.
Passwords go through PGPASSWORD, never the command line; messages mask them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from checkpoints.servers.pgserver import pg_bin

from .base import mask_password
from .errors import EngineError
from .local.events_sql import SCHEMA as EVENTS_SCHEMA

SOURCE_UNREACHABLE = "Cannot reach the source database at {where}: {why}"
SOURCE_REFUSED = "The source database at {where} refused the connection: {why}"
SOURCE_FAILED = "pg_dump could not read the source database at {where}: {why}"
LOAD_FAILED = "The dump could not be loaded as the project's role: {why}"
TIMED_OUT = "{what} took longer than {seconds} s: stopped."
URL_INVALID = (
    "Give the source as a postgresql://user:password@host:port/database URL "
    "(a network host; sslmode and connect_timeout may follow)."
)

_ALLOWED = {"host", "port", "dbname", "user", "password", "sslmode", "connect_timeout"}
_REFUSED_WORDS = ("password authentication failed", "permission denied", "no pg_hba.conf")


class DumpFailed(EngineError):
    """The source could not be dumped, or the dump not loaded (nothing was kept)."""


def source_where(url: str) -> str:
    """What may be shown of a source URL: host:port/database (never user or password)."""
    params = _params(url)
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    return f"{where}/{params.get('dbname') or ''}"


def dump(url: str, path: Path, *, timeout: float = 600) -> int:
    """Dump the database at `url` into `path` (custom format); its size in bytes."""
    params = _params(url)
    where = source_where(url)
    password = params.pop("password", None)
    params.setdefault("connect_timeout", "10")
    command = [str(pg_bin("pg_dump")), "--format=custom", "--no-owner", "--no-privileges"]
    command += ["--no-subscriptions", "--no-publications", "--file", str(path)]
    # A Checkpoints project's own recorder (its role cannot read it): the engine's, not data.
    command += [f"--exclude-schema={EVENTS_SCHEMA}"]
    command += ["--dbname", make_conninfo(**params)]
    result = _run(command, password, timeout, "Reading the source database")
    if result.returncode != 0:
        why = _last_line(result.stderr)
        if any(word in why.lower() for word in _REFUSED_WORDS):
            raise DumpFailed(SOURCE_REFUSED.format(where=where, why=why))
        if "could not connect" in why.lower() or "connection" in why.lower():
            raise DumpFailed(SOURCE_UNREACHABLE.format(where=where, why=why))
        raise DumpFailed(SOURCE_FAILED.format(where=where, why=why))
    return path.stat().st_size


def restore(path: Path, url: str, *, timeout: float = 1800) -> None:
    """Load the dump at `path` into the database at `url`, as that URL's role."""
    params = _params(url)
    password = params.pop("password", None)
    command = [str(pg_bin("pg_restore")), "--no-owner", "--no-privileges", "--no-comments"]
    command += ["--single-transaction", "--exit-on-error", "--dbname", make_conninfo(**params)]
    with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
        listing.write(_without_event_triggers(path, timeout))
        listing.flush()
        command += ["--use-list", listing.name, str(path)]
        result = _run(command, password, timeout, "Loading the dump")
    if result.returncode != 0:
        raise DumpFailed(LOAD_FAILED.format(why=_last_line(result.stderr)))


def _without_event_triggers(path: Path, timeout: float) -> str:
    """The dump's table of contents without event triggers: only a superuser makes one,
    never a project's role (a source with one, or another Checkpoints project with its
    recorder, would otherwise not load)."""
    result = _run(
        [str(pg_bin("pg_restore")), "--list", str(path)], None, timeout, "Reading the dump"
    )
    if result.returncode != 0:
        raise DumpFailed(LOAD_FAILED.format(why=_last_line(result.stderr)))
    kept = [line for line in result.stdout.splitlines() if " EVENT TRIGGER " not in line]
    return "\n".join(kept) + "\n"


def _params(url: str) -> dict[str, str]:
    """The URL's parameters: a TCP host, and only parameters that read no local file (no
    socket folder, service file or password file of the server's own account)."""
    url = (url or "").strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise DumpFailed(URL_INVALID)
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items()}
    except Exception:  # its text may hold the password: never echo it
        raise DumpFailed(URL_INVALID) from None
    host = params.get("host", "")
    if not host or host.startswith(("/", "@")) or set(params) - _ALLOWED:
        raise DumpFailed(URL_INVALID)
    return params


def _run(
    command: list[str], password: str | None, timeout: float, what: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSFILE=os.devnull, PGSERVICEFILE=os.devnull, PGSYSCONFDIR=os.devnull)
    if password:
        env["PGPASSWORD"] = password
    try:
        return subprocess.run(  # noqa: S603 (the wheel's own programs, no shell)
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise DumpFailed(TIMED_OUT.format(what=what, seconds=int(timeout))) from None


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    text = lines[-1] if lines else "no message"
    for line in lines:  # pg_dump puts the server's reason on the line after "error:"
        if "FATAL" in line or "error:" in line:
            text = line
    return mask_password(text.removeprefix("pg_dump: ").removeprefix("pg_restore: "))[:400]
