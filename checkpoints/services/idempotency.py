"""Idempotency keys: a write retried with the same key answers the first answer and is
done once, also when the retries race.

The first request inserts an `IdempotencyRecord` (the unique constraint on user and key
decides who that is: no lock is held while the write runs, so the write may enqueue a job
and wait for it), does the write, then stores its answer. A retry finds the row: it waits
until the answer is stored and answers it, or, when the first attempt stored nothing (it
failed on our side, or ran into a busy project), tries itself. The same key with another
request is refused. Keys are kept `KEEP` (then they may be used again).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from checkpoints.errors import ServiceError
from checkpoints.models import IdempotencyRecord

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEEP = timedelta(hours=24)
#: A first attempt that stored nothing for this long is taken as dead (its process was).
STALE = timedelta(minutes=10)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

KEY_INVALID = "An idempotency key is 1 to 255 visible ASCII characters (a UUID will do)."
KEY_REUSED = "This idempotency key was used for another request: send a new key for a new request."
KEY_IN_PROGRESS = (
    "A request with this idempotency key is still running: retry in a moment for its answer."
)


class IdempotencyRefused(ServiceError):
    status = 422
    code = "idempotency_key_reused"


class IdempotencyInProgress(ServiceError):
    status = 409
    code = "idempotency_in_progress"


def fingerprint(*parts: Any) -> str:
    """sha256 of what was asked, to tell a retry from another request with the same key."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Claim:
    """The outcome of asking for a key: `record` is ours to run, or `answer` is stored."""

    record: IdempotencyRecord | None = None
    answer: dict[str, Any] | None = None


def idempotency_key_check(key: str) -> str:
    if not _KEY.match(key):
        raise ServiceError(KEY_INVALID)
    return key


def idempotency_claim(*, user: User, key: str, fingerprint: str) -> Claim | None:
    """Ours to run (`Claim.record`), already answered (`Claim.answer`), or None: another
    attempt is running it now (ask again later). Refuses a key reused for another request."""
    idempotency_key_check(key)
    now = timezone.now()
    IdempotencyRecord.objects.filter(user=user, created_at__lt=now - KEEP).delete()
    IdempotencyRecord.objects.filter(
        user=user, key=key, completed_at__isnull=True, created_at__lt=now - STALE
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(user=user, key=key, fingerprint=fingerprint)
        return Claim(record=record)
    except IntegrityError:
        pass
    found = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if found is None:  # its first attempt gave up just now: the caller asks again
        return None
    if found.fingerprint != fingerprint:
        raise IdempotencyRefused(KEY_REUSED)
    if found.completed_at is None:
        return None
    return Claim(answer=found.response)


def answer_storable(status: int) -> bool:
    """Whether an answer is replayed to retries: not a failure on our side, and not a
    refusal that did nothing and may pass later (busy, locked, rate limited)."""
    return status < 500 and status not in (409, 423, 429)


def idempotency_store(record: IdempotencyRecord, answer: dict[str, Any] | None) -> None:
    """Keep the answer for retries; None (nothing worth replaying) frees the key."""
    if answer is None:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response=answer, completed_at=timezone.now()
    )
