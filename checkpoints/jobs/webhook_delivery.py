"""Signed webhooks: what a team's endpoints are told, and each delivery attempt.

An event (`webhook_emit`) becomes one `WebhookDelivery` per endpoint of the team, each
attempted by the `webhooks` queue's own worker (`tasks.webhook_deliver`), never by a job:
a slow or failing endpoint holds no job. An attempt is one POST with a short timeout; a
non-2xx answer or a transport error is retried with exponential backoff until
`MAX_ATTEMPTS`. Each request is signed as the Standard Webhooks spec says (the
`standardwebhooks` reference library): `webhook-id`, `webhook-timestamp`, and
`webhook-signature` = `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret
while a rotated one is still honoured.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from checkpoints import tasks
from checkpoints.models import Job, ShareLink, WebhookDelivery, WebhookEndpoint
from checkpoints.serialize import job_json, share_json

logger = logging.getLogger(__name__)

EVENTS = (
    "version.saved",
    "rollback.succeeded",
    "rollback.failed",
    "undo.succeeded",
    "undo.failed",
    "preview.opened",
    "preview.expired",
    "share.opened",
    "share.revoked",
    "cleanup.done",
    "webhook.test",
)
MAX_ATTEMPTS = 7
KEEP = timedelta(days=30)
USER_AGENT = "Checkpoints-Webhooks/1"


def timeout_seconds() -> float:
    return float(settings.CHECKPOINTS_WEBHOOK_TIMEOUT_SECONDS)


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: base × 5^(n-1) (5 s, 25 s, 2 min… at the default
    base), ±10 % so endpoints that failed together are not retried together."""
    base = float(settings.CHECKPOINTS_WEBHOOK_RETRY_SECONDS)
    return timedelta(seconds=base * 5 ** (attempts - 1) * random.uniform(0.9, 1.1))


def webhook_emit(
    *, team_id: int, event_type: str, data: dict[str, Any], endpoint_id: int | None = None
) -> int:
    """Queue `event_type` for every endpoint of the team (or one); how many. Never raises:
    telling a receiver must not fail what happened."""
    try:
        endpoints = WebhookEndpoint.objects.filter(team_id=team_id)
        if endpoint_id is not None:
            endpoints = endpoints.filter(pk=endpoint_id)
        now = timezone.now()
        old = WebhookDelivery.objects.filter(endpoint__team_id=team_id, created_at__lt=now - KEEP)
        old.delete()  # the log keeps `KEEP` of deliveries
        payload = {"type": event_type, "timestamp": now.isoformat(), "data": data}
        count = 0
        for endpoint in endpoints:
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint,
                event_id=f"msg_{secrets.token_urlsafe(18)}",
                event_type=event_type,
                payload=payload,
            )
            transaction.on_commit(partial(tasks.webhook_deliver.enqueue, delivery.pk))
            count += 1
        return count
    except Exception:
        logger.exception("webhook event %s of team %s not queued", event_type, team_id)
        return 0


def _job_event(job: Job) -> str | None:
    succeeded = job.state == Job.State.SUCCEEDED
    if job.kind == Job.Kind.ROLLBACK:
        undo = bool((job.result.get("request") or {}).get("undo"))
        return f"{'undo' if undo else 'rollback'}.{'succeeded' if succeeded else 'failed'}"
    if not succeeded:
        return None
    if job.kind == Job.Kind.PREVIEW_DISCARD and job.created_by_id is None:
        return "preview.expired"  # discarded by its expiry, not by a person
    return {
        Job.Kind.CREATE_VERSION: "version.saved",
        Job.Kind.PREVIEW_OPEN: "preview.opened",
        Job.Kind.CLEANUP: "cleanup.done",
    }.get(Job.Kind(job.kind))


def webhook_job_finished(job_id: int) -> None:
    """The event a finished job makes, if any (called as a job is recorded finished)."""
    try:
        job = Job.objects.select_related("project").get(pk=job_id)
        event = _job_event(job)
        if (
            event is None
            or not WebhookEndpoint.objects.filter(team_id=job.project.team_id).exists()
        ):
            return
        data = {"project": {"id": job.project_id, "name": job.project.name}, "job": job_json(job)}
        webhook_emit(team_id=job.project.team_id, event_type=event, data=data)
    except Exception:
        logger.exception("webhook event of job %s not queued", job_id)


def share_event(share: ShareLink, event_type: str) -> None:
    """`share.opened` (first open) or `share.revoked` for the link's team."""
    try:
        share = ShareLink.objects.select_related("project", "version").get(pk=share.pk)
        project = share.project
        data = {"project": {"id": project.pk, "name": project.name}, "share": share_json(share)}
        webhook_emit(team_id=project.team_id, event_type=event_type, data=data)
    except Exception:
        logger.exception("webhook event %s of share %s not queued", event_type, share.pk)


def signatures(endpoint: WebhookEndpoint, msg_id: str, at: datetime, body: bytes) -> str:
    """`webhook-signature`: one `v1,…` per secret honoured now, space separated."""
    keys = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > timezone.now():
        keys.append(endpoint.previous_secret)
    return " ".join(Webhook(key).sign(msg_id, at, body) for key in keys)


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    at = timezone.now()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures(endpoint, delivery.event_id, at, body),
    }
    try:
        response = httpx.post(
            endpoint.url, content=body, headers=headers, timeout=timeout_seconds()
        )
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:300]
    return response.status_code, "" if response.is_success else response.text[:300]


@tasks.handles("webhook_deliver")
def webhook_attempt(delivery_id: int) -> None:
    """One attempt of a pending delivery; schedules the next one when it fails."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, state=WebhookDelivery.State.PENDING)
        .first()
    )
    if delivery is None:  # delivered already, or its endpoint was removed
        return
    status, error = _post(delivery.endpoint, delivery)
    attempts = delivery.attempts + 1
    state, next_at = WebhookDelivery.State.PENDING, None
    if status is not None and 200 <= status < 300:
        state = WebhookDelivery.State.DELIVERED
    elif attempts >= MAX_ATTEMPTS:
        state = WebhookDelivery.State.FAILED
    else:
        next_at = timezone.now() + retry_delay(attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=state,
        attempts=attempts,
        last_status=status,
        last_error=error,
        last_attempt_at=timezone.now(),
        next_attempt_at=next_at,
    )
    if next_at is not None:
        tasks.webhook_deliver.using(run_after=next_at).enqueue(delivery.pk)
