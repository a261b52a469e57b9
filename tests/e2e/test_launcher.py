"""`make run` as a terminal runs it: the launcher leads its own session and process group,
a real browser polls a running job, idle keep-alive connections stay open, and Ctrl-C goes
to the whole group. Nothing of the run may be left and the port must be free in 10 s.

Then `manage.py` beside the running launcher with no environment at all: it finds the
secret key and the embedded server in the data folder.

All runs share one copy of the source tree with its own `.data/` (set up once), started
with its default data folder, as a clone is.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = ["manage.py", "checkpoints", "contacts", "templates", "static"]
STOP_WITHIN = 10.0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new terminal: none of the app's variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "CHECKPOINTS_", "NEON_")) and name != "DATABASE_URL"
    }
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """As the next gunicorn binds: SO_REUSEADDR, so TIME_WAIT leftovers do not count."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Clone:
    path: Path
    port: int
    credentials: tuple[str, str] | None = None
    runs: int = 0
    started: list[Run] = field(default_factory=list)


@dataclass
class Run:
    launcher: subprocess.Popen[str]
    url: str
    output: list[str]
    processes: list[psutil.Process] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.output)


@pytest.fixture(scope="module")
def clone() -> Iterator[Clone]:
    # Not under pytest's tmp_path: other pytest sessions prune its numbered folders.
    path = Path(tempfile.mkdtemp(prefix="checkpoints-clone-"))
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, path / name)
    yield Clone(path=path, port=free_port())
    shutil.rmtree(path, ignore_errors=True)


def start(clone: Clone, *, port_free: bool = True) -> Run:
    """The launcher in its own session, as a terminal starts `make run`."""
    launcher = subprocess.Popen(
        [sys.executable, "-m", "checkpoints.launcher"],
        cwd=clone.path,
        env=clean_env(CHECKPOINTS_PORT=str(clone.port)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    clone.started.append(Run(launcher=launcher, url="", output=output))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        if not line and launcher.poll() is not None:
            break
        output.append(line)
        if "Press Ctrl-C to stop" in line:
            break
    else:
        os.killpg(launcher.pid, signal.SIGKILL)
    text = "".join(output)
    assert "Press Ctrl-C to stop" in text, text
    # The clone's own code and data folder, not this checkout's.
    assert str(clone.path / ".data") in text or clone.runs > 0, text
    # Keep reading: a full pipe would block the access log.
    threading.Thread(target=_drain, args=(launcher, output), daemon=True).start()
    clone.runs += 1
    if clone.credentials is None:
        found = re.search(r"username: (\S+)\s+password: (\S+)", text)
        assert found, text
        clone.credentials = (found.group(1), found.group(2))
    url = re.search(r"(http://127\.0\.0\.1:\d+)/", text).group(1)
    if port_free:
        assert url.endswith(f":{clone.port}"), "the port of the previous run was not free again"
    run = Run(launcher=launcher, url=url, output=output)
    clone.started.append(run)
    run.processes = processes_of(run, clone)
    return run


def processes_of(run: Run, clone: Clone) -> list[psutil.Process]:
    """The launcher, everything below it, and the PostgreSQL it started (pg_ctl detaches
    the server, so it is found by its pid file)."""
    launcher = psutil.Process(run.launcher.pid)
    found = [launcher, *launcher.children(recursive=True)]
    pid_file = clone.path / ".data" / "postgres" / "pgdata" / "postmaster.pid"
    postmaster = psutil.Process(int(pid_file.read_text().splitlines()[0]))
    found += [postmaster, *postmaster.children(recursive=True)]
    names = " ".join(" ".join(proc.cmdline()[:4]) for proc in found)
    assert "gunicorn" in names and "manage.py worker" in names and "postgres" in names, names
    return found


def _drain(launcher: subprocess.Popen[str], output: list[str]) -> None:
    for line in launcher.stdout:
        output.append(line)


def assert_everything_stops(run: Run, clone: Clone) -> float:
    """Seconds from the signal until no process of the run is left and the port is free."""
    signalled = time.monotonic()
    while time.monotonic() - signalled < STOP_WITHIN:
        alive = [proc for proc in run.processes if _alive(proc)]
        if not alive and port_is_free(clone.port) and run.launcher.poll() is not None:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - signalled
    alive = [(proc.pid, " ".join(proc.cmdline()[:3])) for proc in run.processes if _alive(proc)]
    log = clone.path / ".data" / "postgres" / "postgres.log"
    assert alive == [], (
        f"left running {elapsed:.1f} s after the signal: {alive}\n{run.text()}\n"
        + log.read_text(errors="replace")[-3000:]
    )
    assert port_is_free(clone.port), run.text()
    assert run.launcher.wait(1) == 0, run.text()
    return elapsed


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def keep_alive_connections(url: str) -> list[object]:
    """Two idle kept-alive HTTP/1.1 connections after a full response, and one that
    connected and never sent a byte."""
    host, port = url.removeprefix("http://").split(":")
    held: list[object] = []
    for _ in range(2):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/accounts/login/")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection", "").lower() != "close"
        held.append(conn)
    held.append(socket.create_connection((host, int(port))))
    return held


def open_project_with_a_running_job(browser: Browser, run: Run, clone: Clone, state: dict):
    """Log in (once; the session cookie survives restarts), Start demo: the project page
    polls its job with htmx until the job finishes."""
    context = browser.new_context(storage_state=state.get("storage"))
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(run.url + "/")
    if page.get_by_role("button", name="Log in").count():
        username, password = clone.credentials
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        state["storage"] = context.storage_state()
    polls: list[str] = []
    page.on(
        "request", lambda request: polls.append(request.url) if "/jobs/" in request.url else None
    )
    page.get_by_role("button", name="Start demo").first.click()
    expect(page).to_have_url(re.compile(r"/projects/\d+/"))
    return context, polls


@pytest.fixture(scope="module")
def browser_state() -> dict:
    return {}


def test_ctrl_c_to_the_group_stops_everything_five_times(clone, browser, browser_state):
    timings = []
    for _ in range(5):
        run = start(clone)
        context, polls = open_project_with_a_running_job(browser, run, clone, browser_state)
        held = keep_alive_connections(run.url)
        os.killpg(run.launcher.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        timings.append(assert_everything_stops(run, clone))
        assert "Stopping PostgreSQL" in run.text()
        for conn in held:
            conn.close()
        context.close()
    print("stopped after Ctrl-C in", ", ".join(f"{t:.1f} s" for t in timings))
    assert polls, "the project page never polled its job"


def test_manage_py_beside_make_run_needs_no_environment(clone, tmp_path):
    """A new user's shell session next to `make run`: a second admin, the versions of a
    project, a version saved and rolled back from the shell, cleanup's dry run."""
    run = start(clone)
    try:
        project = start_demo_over_http(run, clone)

        def manage(*args: str, **extra: str) -> str:
            result = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=clone.path,
                env=clean_env(**extra),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stderr}"
            return result.stdout

        created = manage(
            "createsuperuser",
            "--noinput",
            DJANGO_SUPERUSER_USERNAME=f"grace{clone.runs}",
            DJANGO_SUPERUSER_EMAIL="grace@example.com",
            DJANGO_SUPERUSER_PASSWORD="a-long-password-for-grace",
        )
        assert "Superuser created successfully" in created
        # Bounded only against a hang: the earlier tests' Ctrl-C may have left jobs running,
        # which must not hold this team's next job (job_fair) until they are reaped.
        deadline = time.monotonic() + 180
        while "v0" not in manage("versions", "list", "--project", project):
            assert time.monotonic() < deadline, "the demo project's v0 never appeared"
            time.sleep(0.5)
        sql = tmp_path / "notes.sql"
        sql.write_text("create table notes (id serial primary key, body text);")
        manage(
            "versions",
            "create",
            "--project",
            project,
            "--prompt",
            "Add notes",
            "--sql-file",
            str(sql),
        )
        assert "v1" in manage("versions", "list", "--project", project)
        manage("versions", "rollback", "--project", project, "--version", "0")
        assert manage("cleanup", "--dry-run").strip()
    finally:
        # Even when the test fails: the next test's launcher must not find this one's
        # PostgreSQL still shutting down (it would share it, then lose it).
        os.killpg(run.launcher.pid, signal.SIGTERM)
        assert_everything_stops(run, clone)


def start_demo_over_http(run: Run, clone: Clone) -> str:
    """Log in and press Start demo over plain HTTP; the new project's id."""
    username, password = clone.credentials
    with httpx.Client(base_url=run.url, timeout=60) as client:
        client.get("/accounts/login/")
        logged_in = client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        assert logged_in.status_code == 302, logged_in.text
        started = client.post(
            "/projects/start", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]}
        )
        assert started.status_code == 302, started.text
        return re.search(r"/projects/(\d+)/", started.headers["location"]).group(1)


def test_a_taken_port_is_said_with_the_port_used(clone):
    """CHECKPOINTS_PORT busy: the app moves to the next free port, and says so."""
    with socket.socket() as holder:
        # The module's other runs used this port: a closed connection may sit in TIME_WAIT.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", clone.port))
        holder.listen()
        run = start(clone, port_free=False)
        said = re.search(
            r"Port (\d+) is taken \(CHECKPOINTS_PORT / --port\): using (\d+)", run.text()
        )
        assert said, run.text()
        assert int(said.group(1)) == clone.port and int(said.group(2)) != clone.port
        assert run.url.endswith(f":{said.group(2)}")
        assert httpx.get(run.url + "/accounts/login/", timeout=60).status_code == 200
    os.killpg(run.launcher.pid, signal.SIGINT)
    assert_everything_stops(run, clone)


def test_a_second_ctrl_c_stops_at_once(clone, browser, browser_state):
    run = start(clone)
    context, _ = open_project_with_a_running_job(browser, run, clone, browser_state)
    held = keep_alive_connections(run.url)
    os.killpg(run.launcher.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(run.launcher.pid, signal.SIGINT)
    assert_everything_stops(run, clone)
    assert "Stopping now" in run.text()
    for conn in held:
        conn.close()
    context.close()


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind(clone) -> Iterator[None]:
    """Even when a test fails half-way: stop the clone's server."""
    yield
    from checkpoints.servers.pgserver import EmbeddedPostgres

    for run in clone.started:
        if run.launcher.poll() is None:
            os.killpg(run.launcher.pid, signal.SIGKILL)
        for proc in run.processes:
            if _alive(proc):
                proc.kill()
    EmbeddedPostgres(clone.path / ".data" / "postgres").stop(mode="immediate")
