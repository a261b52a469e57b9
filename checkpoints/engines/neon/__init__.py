"""The Neon engine (Neon API v2): `NeonEngine`, built from one part per resource over one
request choke point (`http`). See shared/neon-api/REFERENCE.md."""

from .engine import DEFAULT_API_URL, DEFAULT_SNAPSHOT_LIMIT, DOCS, NeonEngine, NeonNotConfigured
from .http import USER_AGENT, AmbiguousRequestError
from .resource import DEFAULT_DATABASE, DEFAULT_ROLE
from .roles import preview_role_name

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_DATABASE",
    "DEFAULT_ROLE",
    "DEFAULT_SNAPSHOT_LIMIT",
    "DOCS",
    "USER_AGENT",
    "AmbiguousRequestError",
    "NeonEngine",
    "NeonNotConfigured",
    "preview_role_name",
]
