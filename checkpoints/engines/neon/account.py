"""A Neon account behind an API key: the one read call that checks a key, and the list of
the account's projects (what a team may adopt).

The check is `GET /projects?limit=1` (with the org id for an organization's key): it
works for personal and organization keys alike, changes nothing, and is answered 401 for
a wrong or revoked key. It is sent once, never retried, so a rate-limited key says so at
once. Messages never contain the key.

Neon's API does not say how many manual snapshots an account's plan allows (its pages
disagree: 10 or 100 on paid plans), so the limit of a connection is its owner's setting;
a snapshot Neon refuses for its limit is learnt by the job (jobs/snapshot.py `refused`).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..errors import EngineError
from ..types import Project
from .engine import DEFAULT_API_URL, NeonEngine
from .parse import parsed, project_from

KEY_REFUSED = "Neon refused this API key: it is wrong, or it was revoked in Neon's console."
KEY_FORBIDDEN = "This API key may not list the projects of that organization (check the org id)."
RATE_LIMITED = "Neon is rate limiting this key just now: nothing was saved, try again in a minute."
UNREACHABLE = "Cannot reach the Neon API at {url}: check the API URL."
UNEXPECTED = "The Neon API at {url} answered {status}: not a Neon API v2, or it is down."
ORG_UNKNOWN = "Neon knows no organization with that id for this key."


@dataclass(frozen=True)
class KeyCheck:
    ok: bool
    message: str = ""


def key_check(api_key: str, *, api_url: str = "", org_id: str = "") -> KeyCheck:
    """One read call with `api_key`: ok, or why not in words a team owner can act on."""
    url = (api_url or DEFAULT_API_URL).rstrip("/")
    try:
        engine = NeonEngine(api_key, api_url=url, org_id=org_id or None, max_attempts=1)
    except ValueError:
        return KeyCheck(False, KEY_REFUSED)
    params: dict[str, str | int] = {"limit": 1}
    if org_id:
        params["org_id"] = org_id
    try:
        with engine:
            engine.http.request("GET", "/projects", params=params)
    except httpx.InvalidURL:
        return KeyCheck(False, UNREACHABLE.format(url=url))
    except EngineError as error:
        return KeyCheck(False, _why(error, url))
    return KeyCheck(True)


def _why(error: EngineError, url: str) -> str:
    status = error.status
    if status == 401:
        return KEY_REFUSED
    if status == 403:
        return KEY_FORBIDDEN
    if status == 404 and "org" in (error.reply or error.message).lower():
        return ORG_UNKNOWN
    if status == 429:
        return RATE_LIMITED
    if status is None:
        return UNREACHABLE.format(url=url)
    return UNEXPECTED.format(url=url, status=status)


def project_list(engine: NeonEngine, *, limit: int = 400) -> list[Project]:
    """The account's projects (of its org, if the engine has one), newest first."""
    params: dict[str, str | int] = {"limit": limit}
    if engine.org_id:
        params["org_id"] = engine.org_id
    body = engine.http.json("GET", "/projects", params=params)
    found = [parsed(project_from, raw) for raw in body.get("projects", [])]
    return sorted(found, key=lambda p: p.created_at, reverse=True)
