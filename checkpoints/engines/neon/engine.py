"""The Neon engine: Neon API v2 behind the `Engine` interface, assembled from its parts.

One `httpx.Client` behind one request choke point (`http.NeonHttp`), JSON parsed into the
frozen dataclasses of `engines.base` at the boundary (`parse`), one part per resource.
See shared/neon-api/REFERENCE.md. The API key and connection passwords never appear in
logs, errors or reprs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from .branches import NeonBranches
from .http import NeonHttp
from .operations import NeonOperations
from .projects import NeonProjects
from .resource import DEFAULT_DATABASE, DEFAULT_ROLE
from .roles import NeonRoles
from .snapshots import NeonSnapshots

DEFAULT_API_URL = "https://console.neon.tech/api/v2"
DOCS = "https://api-docs.neon.tech/reference"
#: Manual snapshots per project on Neon's paid plans in 2026 (Free: 1). A plan setting:
#: set NEON_SNAPSHOT_LIMIT to your plan's; 0 means "do not check before snapshotting".
DEFAULT_SNAPSHOT_LIMIT = 100


class NeonEngine(NeonProjects, NeonBranches, NeonSnapshots, NeonRoles, NeonOperations):
    """Neon API v2 behind the `Engine` interface. Use as a context manager or `close()` it."""

    name = "neon"
    supports_point_in_time = True
    restores_in_two_steps = True

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        org_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 8,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        max_retry_after: float = 60.0,
        ambiguous_rounds: int = 3,
        operations_page_size: int = 50,
        database_name: str = DEFAULT_DATABASE,
        role_name: str = DEFAULT_ROLE,
        region_id: str | None = None,
        clock_skew: timedelta = timedelta(seconds=60),
        rng: Callable[[], float] = random.random,
        snapshot_limit: int | None = DEFAULT_SNAPSHOT_LIMIT,
    ) -> None:
        if not api_key:
            raise ValueError("a Neon API key is required")
        self.api_url = api_url.rstrip("/")
        self.org_id = org_id or None
        self.operations_page_size = operations_page_size
        self.database_name = database_name
        self.role_name = role_name
        self.region_id = region_id
        self.snapshot_limit = snapshot_limit or None
        self._conn_params = {}
        self._default_branch = {}
        self.http = NeonHttp(
            api_key,
            api_url=self.api_url,
            transport=transport,
            sleep=sleep,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            ambiguous_rounds=ambiguous_rounds,
            clock_skew=clock_skew,
            rng=rng,
        )

    @classmethod
    def from_settings(cls, *, settings: Any, **kwargs: Any) -> NeonEngine:
        """Build the engine from settings NEON_API_KEY, NEON_API_URL, NEON_ORG_ID,
        NEON_SNAPSHOT_LIMIT (the plan's manual snapshots per project; default 100).

        `settings` is any object with those attributes (the caller passes Django's, where
        product_settings.py declares them)."""
        api_key = settings.NEON_API_KEY
        if not api_key:
            raise NeonNotConfigured(
                "NEON_API_KEY is not set: the neon engine needs a Neon API key "
                "(or set CHECKPOINTS_ENGINE=local)."
            )
        return cls(
            api_key,
            api_url=settings.NEON_API_URL or DEFAULT_API_URL,
            org_id=settings.NEON_ORG_ID or None,
            snapshot_limit=int(settings.NEON_SNAPSHOT_LIMIT),
            **kwargs,
        )

    @property
    def request_count(self) -> int:
        """HTTP requests sent (every attempt counts): a cheap way to watch API usage."""
        return self.http.request_count

    def _backoff(self, attempt: int) -> float:
        return self.http.backoff(attempt)

    def __repr__(self) -> str:
        return f"NeonEngine(api_url={self.api_url!r}, org_id={self.org_id!r})"

    def close(self) -> None:
        self.http.close()


class NeonNotConfigured(ValueError):
    """The settings name no Neon API key."""
