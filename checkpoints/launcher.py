"""`make run`: embedded PostgreSQL, migrations, first account, web server and worker.

    python -m checkpoints.launcher                  # serve the app until Ctrl-C
    python -m checkpoints.launcher --exec CMD ...   # run `manage.py CMD ...` against it, then stop

Everything it starts is stopped on Ctrl-C, PostgreSQL included. Data stays in `.data/`
(or CHECKPOINTS_DATA_DIR), so a second run reuses the same projects and versions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from checkpoints.pgserver import EmbeddedPostgres, free_port

BASE_DIR = Path(__file__).resolve().parent.parent
METADATA_DB = "checkpoints"
#: The worker's idle polling interval: a clicked rollback starts within 0.2 s, not 1 s.
WORKER_INTERVAL = 0.2


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Background jobs of non-interactive shells start with SIGINT ignored: undo that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    data_dir = Path(os.environ.get("CHECKPOINTS_DATA_DIR", BASE_DIR / ".data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(data_dir / "postgres")
    say(f"Starting PostgreSQL (embedded, data in {server.data_dir}) …")
    server.start()
    children: list[subprocess.Popen[bytes]] = []
    stack = contextlib.ExitStack()
    try:
        env = _child_env(server, data_dir)
        if args.neon_emulator:
            stack.enter_context(_neon_emulator(server, env))
        _ensure_database(server, METADATA_DB, env)
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        _run(manage + ["migrate", "--noinput", "-v", "0"], env)
        _run(manage + ["collectstatic", "--noinput", "-v", "0"], env)
        if args.exec:
            return subprocess.call(manage + args.exec, env=env, cwd=BASE_DIR)
        _run(manage + ["ensure_admin"], env)
        port = free_port(args.port)
        children.append(subprocess.Popen(gunicorn_command(port), env=env, cwd=BASE_DIR))
        children.append(subprocess.Popen(worker_command(), env=env, cwd=BASE_DIR))
        _wait_for_port(port, children)
        say(f"\n  Checkpoints is running: http://127.0.0.1:{port}/\n  Press Ctrl-C to stop.\n")
        return _wait(children)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(children)
        stack.close()
        say("Stopping PostgreSQL …")
        server.stop()


def gunicorn_command(port: int, *, access_log: bool = True) -> list[str]:
    """The web server as `make run` starts it."""
    command = [sys.executable, "-m", "gunicorn", "checkpoints.wsgi", f"--bind=127.0.0.1:{port}"]
    command += ["--workers=2", "--threads=4", "--log-level=warning"]
    return command + (["--access-logfile=-"] if access_log else [])


def worker_command(*, interval: float = WORKER_INTERVAL, verbosity: int = 1) -> list[str]:
    """The task worker as `make run` starts it."""
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    return manage + [
        "db_worker",
        "--interval",
        f"{interval:g}",
        "--no-startup-delay",
        "-v",
        str(verbosity),
    ]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHECKPOINTS_PORT", 8000)))
    parser.add_argument(
        "--neon-emulator",
        action="store_true",
        help="try the neon engine offline: serve the Neon-API emulator (tests/emulator) over "
        "the embedded PostgreSQL and point the app at it",
    )
    parser.add_argument("--exec", nargs=argparse.REMAINDER, help="run a manage.py command")
    return parser.parse_args(argv)


def _child_env(server: EmbeddedPostgres, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", _secret_key(data_dir))
    env.setdefault("DATABASE_URL", server.url(METADATA_DB))
    env.setdefault("CHECKPOINTS_LOCAL_SERVER_URL", server.url("postgres"))
    env["CHECKPOINTS_DATA_DIR"] = str(data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@contextlib.contextmanager
def _neon_emulator(server: EmbeddedPostgres, env: dict[str, str]) -> Iterator[None]:
    """The Neon-API emulator in this process, over real HTTP, backed by a local engine with
    its own control database; the app's processes use the neon engine against it."""
    from checkpoints.engines.local import LocalEngine
    from tests.emulator import NeonEmulator  # a test tool: present in a source checkout

    backend = LocalEngine(server.url("postgres"), control_db="neon_emulator")
    api_key = "napi_emulator_" + secrets.token_hex(12)
    with NeonEmulator(backend, api_key=api_key, op_duration=1.0) as emulator:
        env.update(CHECKPOINTS_ENGINE="neon", NEON_API_URL=emulator.url, NEON_API_KEY=api_key)
        say(f"Neon-API emulator at {emulator.url} (operations take 1 s, as on Neon)")
        yield


def _secret_key(data_dir: Path) -> str:
    """A per-installation key, generated once and kept beside the data."""
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _ensure_database(server: EmbeddedPostgres, name: str, env: dict[str, str]) -> None:
    if env["DATABASE_URL"] != server.url(name):
        return  # an external metadata database: the operator created it
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server.keep_out_of((name,))  # projects' roles never open the metadata database


def _run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, cwd=BASE_DIR, check=True)


def _wait_for_port(port: int, children: list[subprocess.Popen[bytes]]) -> None:
    """Print the URL only once the web server answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)


def _wait(children: list[subprocess.Popen[bytes]]) -> int:
    """Block until Ctrl-C/SIGTERM or until a child dies (then stop the rest)."""
    while True:
        for child in children:
            code = child.poll()
            if code is not None:
                say(f"{' '.join(map(str, child.args[:4]))} exited with {code}; stopping.")
                return code or 1
        time.sleep(0.5)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
