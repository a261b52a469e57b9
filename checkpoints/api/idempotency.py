"""`Idempotency-Key` on the API's writes: a retry answers the first answer (with
`Idempotent-Replayed: true`) and nothing is done twice (services/idempotency.py)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from checkpoints.services import idempotency

#: How long a retry waits for the first attempt's answer before answering 409.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
HEADER = "Idempotency-Key"


def idempotent_answer(request: HttpRequest, call: Callable[[], HttpResponse]) -> HttpResponse:
    """`call()`'s answer, once per key: a retry with the same key gets the stored one."""
    key = idempotency.idempotency_key_check(request.headers[HEADER])
    body = hashlib.sha256(request.body).hexdigest()
    asked = idempotency.fingerprint(request.method, request.path, sorted(request.GET.lists()), body)
    deadline = time.monotonic() + WAIT_SECONDS
    while (
        claim := idempotency.idempotency_claim(user=request.user, key=key, fingerprint=asked)
    ) is None:
        if time.monotonic() > deadline:
            raise idempotency.IdempotencyInProgress(idempotency.KEY_IN_PROGRESS)
        time.sleep(POLL_SECONDS)
    if claim.answer is not None:
        return _replayed(claim.answer)
    assert claim.record is not None
    try:
        response = call()
    except BaseException:
        idempotency.idempotency_store(claim.record, None)
        raise
    stored = None
    if idempotency.answer_storable(response.status_code):
        stored = {
            "status": response.status_code,
            "body": response.content.decode(),
            "content_type": response.get("Content-Type", "application/json"),
            "location": response.get("Location"),
        }
    idempotency.idempotency_store(claim.record, stored)
    return response


def _replayed(answer: dict) -> HttpResponse:
    response = HttpResponse(
        answer["body"], status=answer["status"], content_type=answer["content_type"]
    )
    if answer.get("location"):
        response["Location"] = answer["location"]
    response["Idempotent-Replayed"] = "true"
    return response
