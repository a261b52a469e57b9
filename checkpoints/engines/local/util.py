"""Small helpers of the local engine: one catalog row, name and id checks, best-effort
statements."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from ..base import mask_password
from ..errors import EngineInvalidRequest, EngineNotFound
from .sql import Conn

log = logging.getLogger(__name__)


def one(conn: Conn, query: str, params: tuple[Any, ...], missing: str) -> tuple[Any, ...]:
    """The one catalog row `query` finds, or EngineNotFound (Neon's 404) saying `missing`."""
    row: tuple[Any, ...] | None = conn.execute(query, params).fetchone()
    if row is None:
        raise EngineNotFound(missing, status=404)
    return row


def check_name(name: str, what: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 256:
        raise EngineInvalidRequest(f"{what} name must be 1 to 256 characters", status=400)
    return name


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except psycopg.Error as error:
        log.warning("ignored: %s", mask_password(str(error)).strip())
