"""Use cases on a team's webhook endpoints (owners): add, remove, rotate the secret, send
a test event; the deliveries log. Events and attempts: `jobs/webhook_delivery.py`.

The secret is kept as it is shown (`whsec_` + base64), so the worker can sign; it is
shown once, when made. A rotation keeps the previous secret signing for `ROTATION_GRACE`,
so receivers switch without losing an event.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from checkpoints.errors import ServiceError
from checkpoints.jobs.webhook_delivery import webhook_emit
from checkpoints.models import Team, WebhookDelivery, WebhookEndpoint
from checkpoints.rules import permissions

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_ENDPOINTS = 10
ROTATION_GRACE = timedelta(hours=24)
URL_INVALID = "Give an http:// or https:// URL of at most 500 characters."
TOO_MANY = f"A team has at most {MAX_ENDPOINTS} webhook endpoints."
DESCRIPTION_TOO_LONG = "The description is at most 200 characters."


def secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _url_checked(url: str) -> str:
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ServiceError(URL_INVALID) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise ServiceError(URL_INVALID)
    return url


def endpoint_add(*, team: Team, user: User, url: str, description: str = "") -> WebhookEndpoint:
    """A new endpoint of the team; its secret is in `.secret` (show it once)."""
    permissions.require(user, team, "webhooks_manage")
    url = _url_checked(url)
    description = (description or "").strip()
    if len(description) > 200:
        raise ServiceError(DESCRIPTION_TOO_LONG)
    if team.webhook_endpoints.count() >= MAX_ENDPOINTS:
        raise ServiceError(TOO_MANY)
    return WebhookEndpoint.objects.create(
        team=team, url=url, description=description, secret=secret_new(), created_by=user
    )


def endpoint_get(*, team: Team, pk: int) -> WebhookEndpoint:
    endpoint = team.webhook_endpoints.filter(pk=pk).first()
    if endpoint is None:
        raise Http404
    return endpoint


def endpoint_remove(*, endpoint: WebhookEndpoint, user: User) -> None:
    permissions.require(user, endpoint.team, "webhooks_manage")
    endpoint.delete()


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint, user: User) -> WebhookEndpoint:
    """A new secret; the previous one also signs for `ROTATION_GRACE`."""
    permissions.require(user, endpoint.team, "webhooks_manage")
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + ROTATION_GRACE
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return endpoint


def endpoint_test_send(*, endpoint: WebhookEndpoint, user: User) -> None:
    """Queue a `webhook.test` event to this endpoint only."""
    permissions.require(user, endpoint.team, "webhooks_manage")
    data = {"team": {"id": endpoint.team_id, "name": endpoint.team.name}, "by": user.username}
    webhook_emit(
        team_id=endpoint.team_id, event_type="webhook.test", data=data, endpoint_id=endpoint.pk
    )


def deliveries_recent(*, team: Team, limit: int = 20) -> QuerySet[WebhookDelivery]:
    """The team's last deliveries, newest first (the team page's log)."""
    deliveries = WebhookDelivery.objects.filter(endpoint__team=team).select_related("endpoint")
    return deliveries.order_by("-created_at", "-pk")[:limit]
