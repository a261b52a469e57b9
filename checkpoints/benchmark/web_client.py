"""The web benchmark's client: it logs in and clicks as a browser with htmx does, and
follows a job's status fragment (`?seen=…`, held by the server until the job changes)."""

from __future__ import annotations

import json
import re
import time

import httpx

HTMX = {"HX-Request": "true"}


def login(client: httpx.Client, password: str) -> None:
    client.get("/accounts/login/").raise_for_status()
    response = client.post(
        "/accounts/login/",
        data={
            "username": "bench",
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed ({response.status_code})")


def post(client: httpx.Client, path: str) -> httpx.Response:
    response = client.post(
        path, headers={**HTMX, "X-CSRFToken": client.cookies["csrftoken"]}, data={"tab": "app"}
    )
    if response.status_code >= 400:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {text_of(response)}")
    return response


def text_of(response: httpx.Response, limit: int = 600) -> str:
    """What a person reads on the answer (its text without the markup), shortened."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())[:limit]


def start_demo(client: httpx.Client) -> int:
    response = client.post("/projects/start", headers={"X-CSRFToken": client.cookies["csrftoken"]})
    match = re.search(r"/projects/(\d+)/", response.headers.get("location", ""))
    if response.status_code != 302 or not match:
        raise RuntimeError(f"starting the demo answered {response.status_code}")
    pk = int(match.group(1))
    page = settle(client, pk, client.get(f"/projects/{pk}/"))
    if not current_label(page):  # e.g. the start job failed: its banner says why
        raise RuntimeError(f"the demo did not start: {text_of(page)}")
    return pk


def current_label(page: httpx.Response) -> str | None:
    """The label of the version the project page shows as current (v0, v1, …)."""
    current = re.search(r'chip-current"[^>]*aria-current="true"[^>]*>(v\d+)<', page.text)
    return current.group(1) if current else None


def job_of(response: httpx.Response) -> int | None:
    """The job whose progress panel the answer shows; None when the answer already
    carries the finished job's result (it ended within the action's wait)."""
    match = re.search(r"/jobs/(\d+)/status", response.text)
    return int(match.group(1)) if match else None


def settle(client: httpx.Client, pk: int, response: httpx.Response) -> httpx.Response:
    """The project region once the action's job ended: the answer itself when it carried
    the result, else the page fetched after following the status panel, as htmx does."""
    job = job_of(response)
    if job is None:
        if response.status_code != 200:
            raise RuntimeError(
                f"the project page answered {response.status_code}: {text_of(response)}"
            )
        return response
    wait_job(client, pk, job, first=response.text)
    return client.get(f"/projects/{pk}/")


_STATUS = re.compile(r'hx-get="(/projects/\d+/jobs/(\d+)/status\?seen=\w*)"')


def wait_job(
    client: httpx.Client, pk: int, job: int, timeout: float = 120, first: str = ""
) -> None:
    """Ask for the job's status fragment as the page does: each answer carries the URL of
    the next request (`?seen=…`), which the server holds until the job changes."""
    deadline = time.monotonic() + timeout
    found = _STATUS.search(first)
    status = found.group(1) if found else f"/projects/{pk}/jobs/{job}/status"
    while time.monotonic() < deadline:
        response = client.get(status, headers=HTMX)
        trigger = response.headers.get("HX-Trigger")
        if trigger and "jobFinished" in trigger:
            state = json.loads(trigger)["jobFinished"]["state"]
            if state != "succeeded":
                raise RuntimeError(f"job {job} ended {state}")
            return
        found = _STATUS.search(response.text)
        if found:
            status = found.group(1)
        else:
            time.sleep(0.01)
    raise TimeoutError(f"job {job} did not end within {timeout:.0f} s")


def click_rollback(client: httpx.Client, pk: int, number: int) -> float:
    started = time.perf_counter()
    page = settle(client, pk, post(client, f"/projects/{pk}/versions/{number}/rollback"))
    elapsed = time.perf_counter() - started
    if current_label(page) != f"v{number}":
        raise RuntimeError(f"the project page does not show v{number} as current")
    return elapsed
