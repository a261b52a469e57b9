"""Start-up checks: serving needs a secret key from the environment or from `make run`."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

MISSING_KEY = (
    "Set DJANGO_SECRET_KEY (see .env.example); `make run` keeps one in its data folder "
    "(.data/secret_key)."
)


def require_secret_key() -> None:
    """Refuse to serve without a secret key (Django would fail only at the first request)."""
    if not _has_secret_key():
        raise ImproperlyConfigured(MISSING_KEY)


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if _has_secret_key():
        return []
    return [checks.Error(MISSING_KEY, id="checkpoints.E001")]


def _has_secret_key() -> bool:
    try:
        return bool(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django's lazy "must not be empty"
        return False
