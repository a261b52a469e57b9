"""Accounts: log-in throttling (django-axes) and password reset only with a mail server."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core import mail

from tests.web_fixtures import user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    """Many log-ins here: a fast hasher keeps them quick (the throttle is what is tested)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PASSWORD = "correct-horse-battery-staple"
LOGIN = "/accounts/login/"


def log_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def test_fifteen_wrong_passwords_lock_the_account_and_say_for_how_long(client, settings):
    user_make("ada")
    user_make("bob")
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = log_in(client, "ada", f"wrong-{attempt}")
        assert answer.status_code == 200  # the form again, with its error
    locked = log_in(client, "ada", "wrong-last")
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "log-in is locked for 15 minutes" in body and "“ada”" in body
    for _ in range(10):
        log_in(client, "ada", "wrong")
    right = log_in(client, "ada", PASSWORD)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # Another username from the same address is not locked.
    assert log_in(client, "bob", PASSWORD).status_code == 302


def test_a_success_clears_the_count(client, settings):
    user_make("ada")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "ada", "wrong")
    assert log_in(client, "ada", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="ada", failures_since_start__gt=0).exists()
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "ada", "wrong")
    assert log_in(client, "ada", PASSWORD).status_code == 302


def test_no_mail_server_no_password_reset(client, settings):
    settings.CHECKPOINTS_MAIL_ENABLED = False
    assert "Forgot your password" not in client.get(LOGIN).content.decode()
    for path in (
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post("/accounts/password_reset/", {"email": "a@example.com"}).status_code == 404


def test_with_mail_password_reset_sends_the_link(client, settings):
    settings.CHECKPOINTS_MAIL_ENABLED = True
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    user = user_make("ada")
    user.email = "ada@example.com"
    user.save()
    assert "Forgot your password" in client.get(LOGIN).content.decode()
    sent = client.post("/accounts/password_reset/", {"email": "ada@example.com"})
    assert sent.status_code == 302 and len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_unreachable_mail_server_is_a_message_not_a_traceback(client, settings, caplog):
    settings.CHECKPOINTS_MAIL_ENABLED = True
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    user = user_make("ada")
    user.email = "ada@example.com"
    user.save()
    answer = client.post("/accounts/password_reset/", {"email": "ada@example.com"})
    unknown = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    # The same answer for a known and an unknown address; one line in the log.
    assert answer.status_code == unknown.status_code == 302
    assert answer["Location"] == unknown["Location"]
    assert "not sent" in caplog.text and "Traceback" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


@pytest.mark.django_db
def test_a_username_longer_than_the_field_is_a_wrong_login_not_a_500(client):
    # Found by the Hypothesis test: it reached django-axes' 255-character column.
    response = client.post("/accounts/login/", {"username": "9" * 1000, "password": "pw"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
