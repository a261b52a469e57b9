"""API token use cases: create (the token is returned once), revoke, authenticate.

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
from checkpoints.services import ServiceError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

TOKEN_NAME_REQUIRED = "Give the token a name (1 to 100 characters)."
TOKEN_PREFIX = "ckp_"
UNAUTHORIZED = "Send a valid API token: `Authorization: Bearer <token>` (Settings → API tokens)."
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token (shown once, never stored)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError(TOKEN_NAME_REQUIRED)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, token_hash=_hash(raw))
    return token, raw


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
