"""The fair-share bench's attacks by team A (a job flood, a held lock with rollbacks
queued) and the API calls they and `fair_bench` share: waiting for a job, cancelling
what an attack left running."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg

API = "/api/v1"
FLOOD_SQL = "select pg_sleep(20)"


def finished(api: httpx.Client, url: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(url, params={"wait": "true", "wait_seconds": 5}).json()
        if job.get("finished"):
            return job
    raise TimeoutError(f"{url} did not finish")


def quiet(api: httpx.Client, started: list[str]) -> None:
    """Cancel what the attack left running or queued, and wait until it ended."""
    for url in started:
        if not api.get(url).json().get("finished"):
            api.post(f"{url}/cancel")
    for url in started:
        finished(api, url)
    started.clear()


def _started(answer: httpx.Response, started: list[str]) -> None:
    if answer.status_code == 202:
        started.append(answer.headers["Location"])


@contextmanager
def flood(api: httpx.Client, hogs: list[int], started: list[str]) -> Iterator[None]:
    for pk in hogs:
        body = {"prompt": "slow", "sql": FLOOD_SQL}
        _started(api.post(f"{API}/projects/{pk}/versions", json=body), started)
    time.sleep(1)  # the flood holds its worker before team B asks
    yield


def project_uri(api: httpx.Client, pk: int) -> str:
    return api.get(f"{API}/projects/{pk}/connection?reveal=true").json()["connection_uri"]


@contextmanager
def held_lock(api: httpx.Client, hogs: list[int], started: list[str]) -> Iterator[None]:
    sessions = [psycopg.connect(project_uri(api, pk)) for pk in hogs]
    for conn in sessions:
        conn.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
    stop = threading.Event()

    def requeue() -> None:
        while not stop.is_set():
            for pk in hogs:
                answer = api.post(f"{API}/projects/{pk}/versions/0/rollback")
                _started(answer, started)  # 409 while the last one runs
            stop.wait(0.5)

    thread = threading.Thread(target=requeue, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for conn in sessions:
            conn.close()
