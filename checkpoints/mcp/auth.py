"""Whose API token an MCP call carries: the same tokens, roles and 401 as /api/v1.

The token is set once per connection (stdio: the command line or `CHECKPOINTS_TOKEN`;
HTTP: each request's `Authorization: Bearer` header) and checked again on every call, so a
revoked token stops a running stdio server at its next call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from checkpoints.tokens import UNAUTHORIZED, token_authenticate, token_require_write

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from checkpoints.tokens import ApiToken

TOKEN_ENV = "CHECKPOINTS_TOKEN"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_raw_token: ContextVar[str | None] = ContextVar("checkpoints_mcp_token", default=None)


class Unauthorized(Exception):
    code = "unauthorized"
    message = UNAUTHORIZED


def token_check(raw: str | None) -> ApiToken:
    """The active token `raw` stands for, else `Unauthorized`."""
    token = token_authenticate(raw=raw) if raw and _TOKEN.match(raw) else None
    if token is None:
        raise Unauthorized(UNAUTHORIZED)
    return token


@contextmanager
def acting_as(raw: str) -> Iterator[None]:
    """Calls made inside act with the token `raw` (a context variable: per task/thread)."""
    reset = _raw_token.set(raw)
    try:
        yield
    finally:
        _raw_token.reset(reset)


def current_token() -> ApiToken:
    """The token this call carries (checked now: revoked answers 401)."""
    return token_check(_raw_token.get())


def current_user() -> AbstractBaseUser:
    """The user of the token this call carries (checked now: revoked answers 401)."""
    return current_token().user


def writes_allowed() -> None:
    """Refuse a tool that changes something to a read-only token (`read_only_token`)."""
    token_require_write(current_token())
