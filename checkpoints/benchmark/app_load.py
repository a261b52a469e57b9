"""The busy app of `make bench`'s quiet-save figures (issue 31): a process of its own with
four threads, each with its own connection, inserting a row and reading a contact in a
loop (the first thread reconnects every round, as a pool replacing its connections
does), its rounds measured in windows."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field

import psycopg

POOL = 4
SLOW_SECONDS = 0.05  # a round longer than this counts as slow (the pause target)


@dataclass
class Window:
    errors: list[str] = field(default_factory=list)
    longest: float = 0.0
    rounds: int = 0
    slow: int = 0


class AppLoad:
    """The app: `POOL` connections reading and writing in a loop, in a process of its own
    (as an app is: in the engine's process its threads would share the engine's
    interpreter lock and slow the very rollback they measure), measured in windows."""

    def __init__(self, uri: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.rounds: multiprocessing.Queue = context.Queue()
        self.stop = context.Event()
        self.window: Window | None = None
        self.since = 0.0
        self.process = context.Process(target=_app, args=(uri, self.rounds, self.stop))
        self.process.start()
        self.rounds.get(timeout=120)  # the app runs (a fresh interpreter takes a moment)

    def measure(self) -> Window:
        """A window that gets every round ending from now until `end()`."""
        self.since = time.monotonic()
        self._drain(None, self.since)  # rounds before the window: dropped
        self.window = Window()
        return self.window

    def end(self) -> None:
        until = time.monotonic()
        window, self.window = self.window, None
        self._drain(window, until)

    def _drain(self, window: Window | None, until: float) -> None:
        """Take the rounds that ended by `until` off the queue (into `window`, if any)."""
        while True:
            try:
                ended, took, error = self.rounds.get(timeout=0.2 if window else 0.01)
            except queue.Empty:
                return
            if ended > until:
                return
            if window is not None and ended >= self.since:
                window.rounds += 1
                window.longest = max(window.longest, took)
                window.slow += took > SLOW_SECONDS
                if error:
                    window.errors.append(error)

    def close(self) -> None:
        self.stop.set()
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.kill()


def _app(uri: str, rounds: multiprocessing.Queue, stop) -> None:
    """The app's process: `POOL` threads, each round reported as (ended, took, error)."""
    threads = [
        threading.Thread(target=_app_thread, args=(uri, i, rounds, stop)) for i in range(POOL)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _app_thread(uri: str, index: int, rounds: multiprocessing.Queue, stop) -> None:
    conn: psycopg.Connection | None = None
    while not stop.is_set():
        started = time.monotonic()
        error = None
        try:
            if conn is None or index == 0:  # the first reconnects every round, as a pool does
                if conn is not None:
                    conn.close()
                conn = psycopg.connect(uri, autocommit=True, connect_timeout=30)
            conn.execute("INSERT INTO bench_hits (worker) VALUES (%s)", (index,))
            conn.execute("SELECT name FROM contacts LIMIT 1").fetchone()
        except psycopg.Error as exc:
            error, conn = str(exc).strip().splitlines()[0], None
        ended = time.monotonic()
        rounds.put((ended, ended - started, error))
    if conn is not None:
        conn.close()
