"""API token use cases: create (the token is returned once), revoke, authenticate, and
what a token may do: read only or also write, which projects, whether a password shows.

A token is `ckp_<prefix>_<secret>`: 8 visible characters to find the row, 32 random bytes of
secret. Only sha256(token) is stored; a lookup compares hashes in constant time. The
/api/v1 views and the MCP server both authenticate with these (the model is `api.models`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING

from django.utils import timezone

from checkpoints.api.models import ApiToken
from checkpoints.engines.base import mask_password
from checkpoints.rules import selectors
from checkpoints.services import ServiceError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import QuerySet

    from checkpoints.models import AgentProject

TOKEN_NAME_REQUIRED = "Give the token a name (1 to 100 characters)."
TOKEN_PREFIX = "ckp_"
UNAUTHORIZED = "Send a valid API token: `Authorization: Bearer <token>` (Settings → API tokens)."
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
READ_ONLY_TOKEN = (
    "This token is read-only: it cannot change anything. Use a token made without "
    "“Read only” (Settings → API tokens) for writes."
)
SCOPED_NO_CREATE = "This token is limited to some projects: it cannot create a project."
SCOPE_PROJECTS = "Choose projects of your teams only."


class TokenRefused(ServiceError):
    """What this token may not do (read-only, scoped to other projects)."""

    status = 403
    code = "read_only_token"


class TokenScoped(TokenRefused):
    code = "token_scope"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    read_only: bool = False,
    can_reveal: bool = True,
    project_ids: Iterable[int] = (),
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token (shown once, never stored).

    `project_ids` (projects of the user's teams) limit it to those projects; none: all."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError(TOKEN_NAME_REQUIRED)
    wanted = set(project_ids)
    projects = list(selectors.projects_for(user).filter(pk__in=wanted))
    if len(projects) != len(wanted):
        raise ServiceError(SCOPE_PROJECTS)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        token_hash=_hash(raw),
        read_only=read_only,
        can_reveal=can_reveal,
    )
    token.projects.set(projects)
    return token, raw


def token_projects(token: ApiToken) -> QuerySet[AgentProject]:
    """The projects `token` reaches: its user's, narrowed to its scope if it has one."""
    listed = selectors.projects_for(token.user)
    scope = [project.pk for project in token.projects.all()]
    return listed.filter(pk__in=scope) if scope else listed


def token_require_write(token: ApiToken) -> None:
    if token.read_only:
        raise TokenRefused(READ_ONLY_TOKEN)


def token_require_unscoped(token: ApiToken) -> None:
    """Refuse what reaches beyond projects (creating one) to a project-scoped token."""
    if token.projects.all():
        raise TokenScoped(SCOPED_NO_CREATE)


def uri_shown(token: ApiToken, uri: str, *, reveal: bool) -> str:
    """The connection string with its password masked, unless `reveal` was asked and the
    token may reveal: passwords stay out of a model's context by default."""
    return uri if reveal and token.can_reveal else mask_password(uri)


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token `raw` stands for, or None (unknown, malformed or revoked)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .prefetch_related("projects")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, _hash(raw)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_from_header(header: str) -> ApiToken | None:
    """The active token of an `Authorization: Bearer <token>` header value, or None."""
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not _TOKEN.match(raw):
        return None
    return token_authenticate(raw=raw)
