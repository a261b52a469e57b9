"""The launcher's children (web server, workers): each started in a session of its own,
watched, and stopped with exactly one SIGTERM, a bounded wait, then SIGKILL to its group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
#: Seconds gunicorn lets in-flight requests finish after SIGTERM (its default is 30).
GRACEFUL_TIMEOUT = 3
#: How long the children get to stop after their SIGTERM, before SIGKILL.
STOP_TIMEOUT = GRACEFUL_TIMEOUT + 2


class Signals:
    """The first stop signal interrupts the launcher; later ones ask it to hurry."""

    def __init__(self) -> None:
        self.stopping = False
        self.impatient = False

    def handle(self, signum: int, frame: object) -> None:
        if not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt
        if not self.impatient:
            self.impatient = True
            say("Stopping now …")


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child in a session (and process group) of its own: the terminal's Ctrl-C
    reaches only the launcher, which then signals each child once."""
    return subprocess.Popen(
        argv, env=env, cwd=BASE_DIR, stdin=subprocess.DEVNULL, start_new_session=True
    )


def wait_for_port(port: int, children: list[subprocess.Popen[bytes]]) -> None:
    """Print the URL only once the web server answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)


def wait(children: list[subprocess.Popen[bytes]]) -> int:
    """Block until Ctrl-C/SIGTERM or until a child dies (then stop the rest)."""
    while True:
        for child in children:
            code = child.poll()
            if code is not None:
                say(f"{' '.join(map(str, child.args[:4]))} exited with {code}; stopping.")
                return code or 1
        time.sleep(0.5)


def stop(children: list[subprocess.Popen[bytes]], signals: Signals) -> None:
    """One SIGTERM to each child, a bounded wait (cut short by a second Ctrl-C), then
    SIGKILL to each child's whole process group: nothing it started outlives it."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    while (
        any(child.poll() is None for child in children)
        and time.monotonic() < deadline
        and not signals.impatient
    ):
        time.sleep(0.05)
    for child in children:
        # The group outlives its leader when a gunicorn master dies before its workers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def say(text: str) -> None:
    # Never fail on a closed terminal or pipe: the stop sequence must run to its end.
    with contextlib.suppress(OSError):
        print(text, flush=True)
