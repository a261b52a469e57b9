"""Use cases on a team's Neon accounts: a team owner adds an API key (checked with one
read call), replaces or removes it, sets the snapshot limit; the installation's own
NEON_API_KEY as a connection every team may use when NEON_KEY_FOR_TEAMS allows it.

A key is sealed at once (checkpoints/security/secretbox.py) and never rendered, logged or answered:
messages name the connection, never the key. Removing a key that projects still use keeps
the connection (its projects say their key was removed) and forgets only the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from checkpoints.engines.neon.account import key_check
from checkpoints.errors import ServiceError
from checkpoints.models import EngineConnection, Job, Team
from checkpoints.rules import permissions
from checkpoints.security.secretbox import secret_seal
from checkpoints.servers.engine_connections import connection_unusable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEY_REQUIRED = "Give a Neon API key (Neon console → Account settings → API keys)."
URL_INVALID = "Give the API URL as https://… (or leave it empty for Neon's)."
LIMIT_INVALID = "Give the snapshot limit as a whole number from 1 to 10000 (empty: {default})."
NEON_UNKNOWN = "There is no such Neon account in team “{team}”."
INSTALLATION_NAME = "The installation's Neon account"
ADDED = "Neon account “{name}” added: its key works."
REPLACED = "The key of “{name}” was replaced: the new key works."
REMOVED = "Neon account “{name}” removed."
REMOVED_KEPT = (
    "The key of “{name}” was removed. Its {count} project(s) stay listed and say so; "
    "nothing was deleted in Neon. Give a key again to reach them."
)
#: What a job remembers when Neon refused a snapshot for its limit (jobs/snapshot.py).
LEARNT = "snapshot_limit_learned"
LIMIT_SET = "“{name}” now counts on {limit} manual snapshots per project."


def neon_accounts_of(*, team: Team) -> list[EngineConnection]:
    """The team's Neon connections (the installation's first when teams may use it), each
    with `project_count`, `unusable` (why not, or "") and `limit` / `limit_source`."""
    if settings.NEON_KEY_FOR_TEAMS and settings.NEON_API_KEY:
        neon_installation_connection(team=team)
    rows = team.connections.filter(kind=EngineConnection.Kind.NEON).annotate(
        project_count=Count("projects")
    )
    found: list[EngineConnection] = []
    for connection in rows:
        connection.unusable = connection_unusable(connection)  # type: ignore[attr-defined]
        limit, source = snapshot_limit_of(connection)
        connection.limit, connection.limit_source = limit, source  # type: ignore[attr-defined]
        found.append(connection)
    return found


def snapshot_limit_of(connection: EngineConnection) -> tuple[int | None, str]:
    """Manual snapshots per project on `connection` and where that figure comes from:
    what Neon's own refusal of a snapshot showed (the jobs learn it), else the owner's
    setting, else the installation's (Neon's API does not say a plan's limit)."""
    learnt = (
        Job.objects.filter(project__connection=connection, result__has_key=LEARNT)
        .order_by("-pk")
        .values_list("result", flat=True)
        .first()
    )
    if learnt:
        return int(learnt[LEARNT]), "learnt when Neon refused a snapshot"
    options = connection.options or {}
    if options.get("snapshot_limit"):
        return int(options["snapshot_limit"]), "the owner's setting"
    default = int(settings.NEON_SNAPSHOT_LIMIT or 0)
    return (default or None), "the installation's NEON_SNAPSHOT_LIMIT"


def neon_installation_connection(*, team: Team) -> EngineConnection:
    """The team's connection to the installation's NEON_API_KEY (made on first use)."""
    found = team.connections.filter(kind=EngineConnection.Kind.NEON, options__installation=True)
    existing = found.first()
    if existing is not None:
        return existing
    return EngineConnection.objects.create(
        team=team,
        kind=EngineConnection.Kind.NEON,
        name=INSTALLATION_NAME,
        server=settings.NEON_API_URL,
        options={"installation": True},
    )


def neon_account_add(
    *,
    user: User,
    team: Team,
    name: str,
    api_key: str,
    org_id: str = "",
    api_url: str = "",
    snapshot_limit: str | int | None = None,
) -> EngineConnection:
    """A Neon account as a connection of `team` (owners), once its key answers a read."""
    permissions.require(user, team, "connections_manage")
    api_key, org_id, api_url = _clean(api_key, org_id, api_url)
    limit = _limit(snapshot_limit)
    _check(api_key, api_url, org_id)
    options: dict[str, object] = {"org_id": org_id, "api_url": api_url}
    if limit:
        options["snapshot_limit"] = limit
    return EngineConnection.objects.create(
        team=team,
        kind=EngineConnection.Kind.NEON,
        name=(name or "").strip()[:200] or "Neon account",
        server=api_url or settings.NEON_API_URL,
        secret=secret_seal(api_key),
        options=options,
    )


def neon_account_key_replace(*, user: User, connection: EngineConnection, api_key: str) -> str:
    """A new key for the account (owners): checked first; the old one is forgotten."""
    permissions.require(user, connection.team, "connections_manage")
    _own(connection)
    options = connection.options or {}
    api_key, _, _ = _clean(api_key, "", "")
    _check(api_key, options.get("api_url", ""), options.get("org_id", ""))
    connection.secret = secret_seal(api_key)
    connection.save(update_fields=["secret"])
    return REPLACED.format(name=connection.name)


@transaction.atomic
def neon_account_remove(*, user: User, connection: EngineConnection) -> str:
    """Forget the account's key (owners). Without projects the connection goes; with
    projects it stays, keyless, so they explain themselves instead of failing."""
    permissions.require(user, connection.team, "connections_manage")
    _own(connection)
    count = connection.projects.count()
    if not count:
        connection.delete()
        return REMOVED.format(name=connection.name)
    connection.secret = ""
    connection.is_default = False
    connection.save(update_fields=["secret", "is_default"])
    return REMOVED_KEPT.format(name=connection.name, count=count)


def neon_account_limit_set(*, user: User, connection: EngineConnection, limit: str | int) -> str:
    """The owner's figure for the plan's manual snapshots per project."""
    permissions.require(user, connection.team, "connections_manage")
    value = _limit(limit)
    options = dict(connection.options or {})
    options.pop("snapshot_limit", None)
    if value:
        options["snapshot_limit"] = value
    connection.options = options
    connection.save(update_fields=["options"])
    shown = value or settings.NEON_SNAPSHOT_LIMIT
    return LIMIT_SET.format(name=connection.name, limit=shown)


def neon_account_get(*, team: Team, pk: int | str) -> EngineConnection:
    """One Neon connection of `team`, else ServiceError (404 at the doors)."""
    try:
        return team.connections.get(pk=int(pk), kind=EngineConnection.Kind.NEON)
    except (ValueError, TypeError, EngineConnection.DoesNotExist):
        error = ServiceError(NEON_UNKNOWN.format(team=team.name))
        error.status = 404
        raise error from None


def _own(connection: EngineConnection) -> None:
    if connection.kind != EngineConnection.Kind.NEON or (connection.options or {}).get(
        "installation"
    ):
        raise ServiceError(NEON_UNKNOWN.format(team=connection.team.name))


def _clean(api_key: str, org_id: str, api_url: str) -> tuple[str, str, str]:
    api_key = (api_key or "").strip()
    if not api_key or len(api_key) > 500 or any(c.isspace() for c in api_key):
        raise ServiceError(KEY_REQUIRED)
    api_url = (api_url or "").strip().rstrip("/")
    if api_url and (not api_url.startswith(("https://", "http://")) or len(api_url) > 300):
        raise ServiceError(URL_INVALID)
    return api_key, (org_id or "").strip()[:100], api_url


def _limit(value: str | int | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= 10000:
        raise ServiceError(LIMIT_INVALID.format(default=settings.NEON_SNAPSHOT_LIMIT))
    return number


def _check(api_key: str, api_url: str, org_id: str) -> None:
    checked = key_check(api_key, api_url=api_url or settings.NEON_API_URL, org_id=org_id)
    if not checked.ok:
        raise ServiceError(checked.message)
