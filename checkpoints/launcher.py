"""`make run`: embedded PostgreSQL, migrations, first account, web server and worker.

    python -m checkpoints.launcher                  # serve the app until Ctrl-C
    python -m checkpoints.launcher --exec CMD ...   # run `manage.py CMD ...` against it, then stop

Everything it starts is stopped on Ctrl-C, SIGTERM or SIGHUP, PostgreSQL included, within
a few seconds; a second Ctrl-C stops at once. Data stays in `.data/` (or
CHECKPOINTS_DATA_DIR), so a second run reuses the same projects and versions, and
`manage.py` finds the secret key and the server there.

Each child (web server, worker) runs in a process group of its own, so the terminal's
SIGINT reaches only the launcher: gunicorn's gthread workers deadlock in their quit
handler when they get the terminal's SIGINT and then their master's signal. The launcher
sends each child exactly one SIGTERM, waits a bounded time, then kills its whole group.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg

from checkpoints.servers import pgroles, teamservers
from checkpoints.servers.children import (
    GRACEFUL_TIMEOUT,
    Signals,
    say,
    start,
    stop,
    wait,
    wait_for_port,
)
from checkpoints.servers.launch_env import METADATA_DB, child_env
from checkpoints.servers.pgserver import EmbeddedPostgres, free_port

BASE_DIR = Path(__file__).resolve().parent.parent
#: The worker's fallback polling interval: a new job wakes it at once (NOTIFY); polling
#: only catches a lost notification or a task due later (a preview's expiry).
WORKER_INTERVAL = 1.0
#: Worker processes (jobs of different projects run side by side): enough for two cores.
WORKERS = 2


def worker_count() -> int:
    """How many worker processes `make run` starts (CHECKPOINTS_WORKERS, default 2)."""
    try:
        return max(1, int(os.environ.get("CHECKPOINTS_WORKERS", WORKERS)))
    except ValueError:
        return WORKERS


#: In the data folder: the pid of the launcher that started the running PostgreSQL.
OWNER_FILE = "launcher.pid"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signals = Signals()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # Also undoes the SIGINT ignored by background jobs of non-interactive shells.
        signal.signal(signum, signals.handle)
    data_dir = Path(os.environ.get("CHECKPOINTS_DATA_DIR", BASE_DIR / ".data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server, team_root = EmbeddedPostgres(data_dir / "postgres"), _team_root(data_dir)
    children: list[subprocess.Popen[bytes]] = []
    stack = contextlib.ExitStack()
    own_server = False
    try:
        own_server = _claim_server(server, data_dir)
        if own_server:
            say(f"Starting PostgreSQL (embedded, data in {server.data_dir}) …")
        server.start()
        # The metadata database is the embedded one unless the operator gave theirs.
        pgroles.ensure_roles(server, None if os.environ.get("DATABASE_URL") else METADATA_DB)
        env = child_env(server, data_dir)
        _start_team_servers(team_root, own_server=own_server)
        if args.neon_emulator:
            stack.enter_context(_neon_emulator(server, env))
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        _run(manage + ["prepare_run"] + ([] if args.exec else ["--first-account"]), env)
        if args.exec:
            return subprocess.call(manage + args.exec, env=env, cwd=BASE_DIR)
        port = _web_port(args.port)
        children.append(start(gunicorn_command(port), env))
        for command in worker_commands():
            children.append(start(command, env))
        wait_for_port(port, children)
        say(
            f"\n  Checkpoints is running: http://127.0.0.1:{port}/ with {worker_count()} workers"
            " (CHECKPOINTS_WORKERS=N for more)\n  Press Ctrl-C to stop.\n"
        )
        return wait(children)
    except KeyboardInterrupt:
        return 0
    finally:
        signals.stopping = True
        if own_server and children:
            _checkpoint_soon(server, *teamservers.initialised(team_root).values())
        try:
            stop(children, signals)
            stack.close()
        finally:
            if own_server:
                _stop_servers(server, team_root, signals)
                (data_dir / OWNER_FILE).unlink(missing_ok=True)


def _stop_servers(server: EmbeddedPostgres, team_root: Path, signals: Signals) -> None:
    say("Stopping PostgreSQL …")
    mode = "immediate" if signals.impatient else "fast"
    # Every team server found (workers may have started some), beside the installation's.
    teams = threading.Thread(target=teamservers.stop_all, args=(team_root,), kwargs={"mode": mode})
    teams.start()
    try:
        server.stop(mode=mode)
    finally:
        teams.join()


def _team_root(data_dir: Path) -> Path:
    """Where the team servers live (settings.CHECKPOINTS_TEAM_SERVERS_DIR)."""
    return Path(os.environ.get("CHECKPOINTS_TEAM_SERVERS_DIR") or data_dir / "teams").resolve()


def _start_team_servers(team_root: Path, *, own_server: bool) -> None:
    """Every team's server made so far (a launcher beside another leaves them to it)."""
    if own_server and teamservers.initialised(team_root):
        say(f"Starting the teams' PostgreSQL servers (data in {team_root}) …")
        teamservers.start_all(team_root)


def _claim_server(server: EmbeddedPostgres, data_dir: Path) -> bool:
    """Whether this launcher starts (and so stops) the server. One already started by a
    live launcher (another `make run`, `--exec` beside it) is shared and left running;
    one left by a launcher that died is taken over."""
    owner_file = data_dir / OWNER_FILE
    with contextlib.suppress(FileNotFoundError, ValueError):
        owner = int(owner_file.read_text())
        if owner != os.getpid() and psutil.pid_exists(owner) and server.is_running():
            return False
    owner_file.write_text(str(os.getpid()))
    return True


def _web_port(wanted: int) -> int:
    """`wanted`, or the next free port, said aloud (a busy port must not move silently)."""
    port = free_port(wanted)
    if port != wanted:
        say(f"\n  Port {wanted} is taken (CHECKPOINTS_PORT / --port): using {port} instead.")
    return port


def gunicorn_command(port: int, *, access_log: bool = True) -> list[str]:
    """The web server as `make run` starts it."""
    command = [sys.executable, "-m", "gunicorn", "checkpoints.wsgi", f"--bind=127.0.0.1:{port}"]
    # --preload: Django is imported once, in the master, not once per worker.
    command += ["--workers=2", "--threads=4", "--preload", "--log-level=warning"]
    command += [f"--graceful-timeout={GRACEFUL_TIMEOUT}"]
    # Share links carry their token in the path: the access log redacts it.
    command += ["--logger-class=checkpoints.security.logredact.GunicornLogger"]
    return command + (["--access-logfile=-"] if access_log else [])


def worker_command(*, interval: float = WORKER_INTERVAL, verbosity: int = 1) -> list[str]:
    """A task worker as `make run` starts it (`worker_count()` of them)."""
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    return manage + [
        "worker",
        "--interval",
        f"{interval:g}",
        "--no-startup-delay",
        "-v",
        str(verbosity),
    ]


def worker_commands() -> list[list[str]]:
    """The job workers, and one for webhook deliveries: a slow endpoint holds no job."""
    jobs = [worker_command() for _ in range(worker_count())]
    return [*jobs, worker_command() + ["--queue-name", "webhooks"]]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHECKPOINTS_PORT", 8000)))
    parser.add_argument(
        "--neon-emulator",
        action="store_true",
        help="try the neon engine offline: serve the Neon-API emulator (neon_emulator) over "
        "the embedded PostgreSQL and point the app at it",
    )
    parser.add_argument("--exec", nargs=argparse.REMAINDER, help="run a manage.py command")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _neon_emulator(server: EmbeddedPostgres, env: dict[str, str]) -> Iterator[None]:
    """The Neon-API emulator in this process, over real HTTP, backed by a local engine with
    its own control database; the app's processes use the neon engine against it."""
    from checkpoints.engines.local import LocalEngine
    from neon_emulator import NeonEmulator

    backend = LocalEngine(
        pgroles.engine_url(server.data_dir) or server.url(), control_db="neon_emulator"
    )
    api_key = "napi_emulator_" + secrets.token_hex(12)
    with NeonEmulator(backend, api_key=api_key, op_duration=1.0) as emulator:
        # Every team gets the installation's account as a connection; a second account
        # (its own projects only) is there to add on a team page as "your" Neon key.
        team_key = "napi_team_" + secrets.token_hex(12)
        emulator.account_add(team_key, "a-team-account")
        env.update(CHECKPOINTS_ENGINE="neon", NEON_API_URL=emulator.url, NEON_API_KEY=api_key)
        env.update(NEON_KEY_FOR_TEAMS="1")
        say(f"Neon-API emulator at {emulator.url} (operations take 1 s, as on Neon)")
        say(f"  A team's own Neon account: on a team page add API key {team_key}")
        say(f"  with API URL {emulator.url}")
        yield


def _run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, cwd=BASE_DIR, check=True)


def _checkpoint_soon(*servers: EmbeddedPostgres) -> None:
    """Write the dirty pages out while the children finish, so that each server's own
    shutdown checkpoint has little left to do (with fsync on, it is most of its stop)."""

    def run(server: EmbeddedPostgres) -> None:
        with (
            contextlib.suppress(Exception),
            psycopg.connect(server.url("postgres"), autocommit=True, connect_timeout=2) as conn,
        ):
            conn.execute("CHECKPOINT")

    for server in servers:
        threading.Thread(target=run, args=(server,), name="checkpoint", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
