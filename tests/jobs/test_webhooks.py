"""Signed webhooks, end to end: real workers (jobs and the `webhooks` queue) in threads and
a real HTTP receiver on 127.0.0.1 that checks each signature with the Standard Webhooks
algorithm written out here (HMAC-SHA256 over `id.timestamp.body`, base64, `v1,`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from checkpoints import services, tasks
from checkpoints.models import Job, Preview, WebhookDelivery
from checkpoints.services import sharing, webhooks
from checkpoints.services.lifecycle import project_cleanup
from checkpoints.services.share_view import share_view
from tests.conftest import worker_threads
from tests.web_fixtures import engine_project_drop, project_demo, user_make

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 120.0


def wait_until(condition: Callable[[], object], what: str) -> None:
    """Until `condition()` holds (re-checked every 50 ms), at most `WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def spec_signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, from the spec: any `v1,` signature of the header that
    equals base64(HMAC-SHA256(base64-decoded secret, "{id}.{timestamp}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    recent = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    offered = headers["webhook-signature"].split(" ")
    return recent and any(hmac.compare_digest(expected, sig) for sig in offered)


class Receiver:
    """A threaded HTTP server that records each POST and answers `statuses` in turn (then
    200); with `hold`, each request first waits until `release` is set."""

    def __init__(self, statuses: tuple[int, ...] = (), *, hold: bool = False) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses)
        self.hold, self.release, self.entered = hold, threading.Event(), threading.Event()
        self.answered = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append((headers, body))
                if receiver.hold:
                    receiver.entered.set()
                    receiver.release.wait(WAIT)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                receiver.answered += 1

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def webhook_worker():
    """The `webhooks` queue's own worker in a thread, as `make run` starts one."""
    return worker_threads(1, interval=0.05, queue=tasks.WEBHOOK_QUEUE)


@pytest.fixture
def fast_retries(settings):
    settings.CHECKPOINTS_WEBHOOK_RETRY_SECONDS = 0.05


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def project(ada):
    project = project_demo(ada, versions=1)  # made before any worker runs
    yield project
    engine_project_drop(project)


def job_done(start: Callable[[], Job]) -> Job:
    """Start a job once the project is idle (a saved version may queue a tier move after
    it), then wait until it has succeeded."""
    wait_until(lambda: not Job.objects.filter(state__in=Job.UNFINISHED).exists(), "idle")
    job = start()
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, f"job {job.kind}")
    job = Job.objects.get(pk=job.pk)
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def test_every_event_arrives_signed_as_the_spec_says(ada, project, fast_retries):
    receiver = Receiver()
    endpoint = webhooks.endpoint_add(team=project.team, user=ada, url=receiver.url)
    v1 = project.versions.get(number=1)
    try:
        with worker_threads(1), webhook_worker():
            saved = job_done(
                lambda: services.version_create(
                    project=project, user=ada, prompt="Tag it", labels={"git_sha": "3f2a9c1"}
                )
            )
            job_done(lambda: services.version_rollback(project=project, version=v1, user=ada))
            job_done(lambda: services.rollback_undo(project=project, user=ada))
            opened = job_done(lambda: services.preview_open(project=project, version=v1, user=ada))
            Preview.objects.filter(pk=opened.preview_id).update(expires_at=timezone.now())
            tasks.previews_cleanup_expired()  # the expiry's discard
            wait_until(lambda: not Preview.objects.get(pk=opened.preview_id).is_live, "expiry")
            wait_until(lambda: not project.jobs.filter(state__in=Job.UNFINISHED), "idle")
            share = sharing.share_create(version=v1, user=ada, hours=1).share
            wait_until(lambda: not project.jobs.filter(state__in=Job.UNFINISHED), "share")
            share.refresh_from_db()  # as the shared page loads it
            view = share_view(share=share)  # prepared when made
            assert view.state == "ready", list(project.jobs.values_list("kind", "state", "error"))
            sharing.share_opened(share=share)  # its first open, as the shared page counts it
            sharing.share_revoke(share=share, user=ada)
            wait_until(lambda: not project.jobs.filter(state__in=Job.UNFINISHED), "revoke")
            project_cleanup(project=project, user=ada, dry_run=False)
            webhooks.endpoint_test_send(endpoint=endpoint, user=ada)
            expected = {
                "version.saved", "rollback.succeeded", "undo.succeeded", "preview.opened",
                "preview.expired", "share.opened", "share.revoked", "cleanup.done", "webhook.test",
            }  # fmt: skip
            wait_until(lambda: {e["type"] for e in receiver.events()} >= expected, "events")
    finally:
        receiver.close()
    for headers, body in receiver.received:
        assert spec_signature_ok(endpoint.secret, headers, body), headers
        assert headers["content-type"] == "application/json"
        assert headers["webhook-id"].startswith("msg_")
    events = {e["type"]: e for e in receiver.events()}
    version = events["version.saved"]["data"]["job"]["version"]
    assert version["labels"] == {"git_sha": "3f2a9c1"}
    assert events["version.saved"]["data"]["job"]["id"] == saved.pk
    assert events["rollback.succeeded"]["data"]["job"]["version"]["number"] == 1
    assert events["share.revoked"]["data"]["share"]["revoked_at"] is not None
    assert events["preview.opened"]["data"]["job"]["preview"]["id"] == opened.preview_id
    assert "connection_uri" not in json.dumps(events)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_a_500_then_200_is_delivered_twice_and_acknowledged_once(ada, project, fast_retries):
    receiver = Receiver(statuses=(500,))
    endpoint = webhooks.endpoint_add(team=project.team, user=ada, url=receiver.url)
    try:
        with webhook_worker():
            webhooks.endpoint_test_send(endpoint=endpoint, user=ada)
            delivery = WebhookDelivery.objects.get()
            wait_until(
                lambda: WebhookDelivery.objects.get().state == "delivered", "the retried delivery"
            )
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status) == (2, 200)
    assert len(receiver.received) == 2
    (first, body1), (second, body2) = receiver.received
    assert first["webhook-id"] == second["webhook-id"] == delivery.event_id
    assert body1 == body2
    assert all(spec_signature_ok(endpoint.secret, h, b) for h, b in receiver.received)


def test_a_hanging_receiver_does_not_hold_a_rollback(ada, project, settings):
    settings.CHECKPOINTS_WEBHOOK_TIMEOUT_SECONDS = WAIT * 2  # it hangs for the whole test
    receiver = Receiver(hold=True)
    webhooks.endpoint_add(team=project.team, user=ada, url=receiver.url)
    v0 = project.versions.get(number=0)
    try:
        with worker_threads(1), webhook_worker():
            job_done(lambda: services.version_create(project=project, user=ada, prompt="Hang on"))
            wait_until(receiver.entered.is_set, "the receiver to be called")
            rollback = job_done(
                lambda: services.version_rollback(project=project, version=v0, user=ada)
            )
            # The rollback finished while the receiver still holds the first event.
            log = list(WebhookDelivery.objects.values("event_type", "attempts", "last_error"))
            assert not receiver.release.is_set() and receiver.answered == 0, log
            assert rollback.state == Job.State.SUCCEEDED
            receiver.release.set()
            wait_until(
                lambda: (
                    set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
                    and WebhookDelivery.objects.count() == 2
                ),
                "both events delivered",
            )
    finally:
        receiver.close()
    types = [e["type"] for e in receiver.events()]
    assert sorted(types) == ["rollback.succeeded", "version.saved"]


def test_after_a_rotation_both_secrets_sign_until_the_old_one_ends(ada, project):
    receiver = Receiver()
    endpoint = webhooks.endpoint_add(team=project.team, user=ada, url=receiver.url)
    old = endpoint.secret
    endpoint = webhooks.endpoint_secret_rotate(endpoint=endpoint, user=ada)
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    try:
        with webhook_worker():
            webhooks.endpoint_test_send(endpoint=endpoint, user=ada)
            wait_until(lambda: len(receiver.received) == 1, "the test event")
            endpoint.previous_secret_until = timezone.now() - timedelta(seconds=1)
            endpoint.save()
            webhooks.endpoint_test_send(endpoint=endpoint, user=ada)
            wait_until(lambda: len(receiver.received) == 2, "the second test event")
    finally:
        receiver.close()
    (during, body), (after, body_after) = receiver.received
    assert len(during["webhook-signature"].split(" ")) == 2
    assert spec_signature_ok(old, during, body) and spec_signature_ok(endpoint.secret, during, body)
    Webhook(old).verify(body, during)  # the reference library agrees
    assert not spec_signature_ok(old, after, body_after)
    assert spec_signature_ok(endpoint.secret, after, body_after)


def test_only_owners_manage_endpoints_and_urls_are_checked(ada, project):
    viewer = user_make("vic")
    project.team.memberships.create(user=viewer, role="viewer")
    with pytest.raises(services.NotAllowed):
        webhooks.endpoint_add(team=project.team, user=viewer, url="https://example.com/h")
    for url in ("ftp://example.com/x", "not a url", "http://", "https://e.com/" + "x" * 500):
        with pytest.raises(services.ServiceError):
            webhooks.endpoint_add(team=project.team, user=ada, url=url)
