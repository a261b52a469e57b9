"""The contact book: schema variants, validation, escaping, tags."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkpoints import services
from contacts import repository
from contacts.forms import EMAIL_TAKEN, tags_parse
from tests.web_fixtures import (
    HX,
    engine_project_drop,
    jobs_run_queued,
    project_demo,
    user_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return user_make("grace")


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def project_v3(user):
    project = project_demo(user, versions=3)
    yield project
    engine_project_drop(project)


def test_tags_are_trimmed_and_deduplicated():
    assert tags_parse(" math,  Math , pioneer,, computing  science ") == [
        "math",
        "pioneer",
        "computing science",
    ]


def test_variants_follow_the_schema(user):
    project = project_demo(user)
    try:
        uri = services.project_connection_uri(project=project)
        assert repository.contacts_list(uri) == (repository.Schema(variant=0), [])
        expected_fields = {1: ("name", "email"), 2: ("name", "email", "role", "company")}
        for number in (1, 2, 3):
            services.version_create_next(project=project, user=user)
            jobs_run_queued()
            schema, contacts = repository.contacts_list(uri)
            assert schema.variant == number
            if number in expected_fields:
                assert schema.fields == expected_fields[number]
            assert [c.name for c in contacts] == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    finally:
        engine_project_drop(project)


def test_add_contact_with_tags_shows_chips(client_in, project_v3):
    response = client_in.post(
        reverse("contact-create", args=[project_v3.pk]),
        {
            "name": "Katherine Johnson",
            "email": "KJ@example.com",
            "role": "Mathematician",
            "company": "NASA",
            "tags": "orbits, nasa, Orbits",
        },
        headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="contacts-app"')
    assert "kj@example.com" in body
    row = body.split('data-contact="kj@example.com"')[1].split("</tr>")[0]
    assert row.count('<span class="tag">') == 2  # deduplicated
    assert '<span class="tag">orbits</span><span class="tag">nasa</span>' in body


def test_html_in_contact_fields_is_escaped(client_in, project_v3):
    client_in.post(
        reverse("contact-create", args=[project_v3.pk]),
        {"name": "<script>alert(1)</script>", "email": "x@example.com", "tags": "<b>bold</b>"},
    )
    page = client_in.get(reverse("project-detail", args=[project_v3.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_invalid_input_is_rerendered_with_messages(client_in, project_v3):
    data = {
        "name": "  ",
        "email": "not-an-email",
        "role": "Engineer",
        "company": "Acme",
        "tags": "x, y",
    }
    response = client_in.post(reverse("contact-create", args=[project_v3.pk]), data, headers=HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert "This field is required." in body
    assert "Enter a valid email address." in body
    for typed in ('value="not-an-email"', 'value="Engineer"', 'value="Acme"', 'value="x, y"'):
        assert typed in body
    assert 'aria-invalid="true"' in body


def test_duplicate_email_is_shown_inline(client_in, project_v3):
    response = client_in.post(
        reverse("contact-create", args=[project_v3.pk]),
        {"name": "Ada Again", "email": "ada@example.com"},
        headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert EMAIL_TAKEN in body
    assert 'value="Ada Again"' in body


def test_too_long_name_is_refused(client_in, project_v3):
    response = client_in.post(
        reverse("contact-create", args=[project_v3.pk]),
        {"name": "x" * 201, "email": "long@example.com"},
    )
    assert response.status_code == 422
    assert "Ensure this value has at most 200 characters" in response.content.decode()


def test_edit_and_delete(client_in, project_v3):
    uri = services.project_connection_uri(project=project_v3)
    _, contacts = repository.contacts_list(uri)
    ada = next(c for c in contacts if c.email == "ada@example.com")
    edit_url = reverse("contact-update", args=[project_v3.pk, ada.id])
    form = client_in.get(edit_url, headers=HX).content.decode()
    assert 'value="Ada Lovelace"' in form and "Save contact" in form
    client_in.post(edit_url, {"name": "Ada King", "email": "ada@example.com", "tags": "first"})
    _, contact = repository.contact_get(uri, ada.id)
    assert contact.name == "Ada King" and contact.tags == ["first"]
    client_in.post(reverse("contact-delete", args=[project_v3.pk, ada.id]), headers=HX)
    with pytest.raises(repository.ContactNotFound):
        repository.contact_get(uri, ada.id)


def test_checkpoints_never_imports_contacts():
    """One way only: contacts imports checkpoints; the core reaches the app by settings
    and URL names (function-level imports counted too)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "checkpoints"
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "contacts"]
    assert found == []


def test_a_contact_change_the_app_database_refuses_is_answered_not_a_500(client_in, project_v3):
    """The stored connection string no longer opens (its password rotated on the server
    meanwhile): adding, opening and deleting a contact answer the app with why, nothing
    changed, and neither password is in the page."""
    from urllib.parse import urlsplit, urlunsplit

    uri = services.project_connection_uri(project=project_v3)
    parts = urlsplit(uri)
    stale_password = "stale-password-0123456789"
    stale = parts._replace(
        netloc=f"{parts.username}:{stale_password}@{parts.hostname}:{parts.port}"
    )
    project_v3.connection_uri = urlunsplit(stale)
    project_v3.save(update_fields=["connection_uri"])
    _, before = repository.contacts_list(uri)

    some_id = before[0].id
    answers = [
        client_in.post(
            reverse("contact-create", args=[project_v3.pk]),
            {"name": "Katherine Johnson", "email": "kj@example.com"},
            headers=HX,
        ),
        client_in.get(reverse("contact-update", args=[project_v3.pk, some_id]), headers=HX),
        client_in.post(reverse("contact-delete", args=[project_v3.pk, some_id]), headers=HX),
    ]
    for response in answers:
        body = response.content.decode()
        assert response.status_code == 409, body[:300]
        assert "Not done: the app database is not reachable right now" in body
        assert stale_password not in body and (parts.password or "") not in body
    assert repository.contacts_list(uri)[1] == before  # nothing changed


def test_a_contact_the_agents_constraint_refuses_is_answered_not_a_500(client_in, project_v3):
    """A CHECK the agent put on the app's table refuses the new contact: the form comes
    back with what was typed and the database's reason, and nothing was added."""
    import psycopg

    uri = services.project_connection_uri(project=project_v3)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ALTER TABLE contacts ADD CONSTRAINT no_k CHECK (name NOT LIKE 'K%')")
    _, before = repository.contacts_list(uri)
    response = client_in.post(
        reverse("contact-create", args=[project_v3.pk]),
        {"name": "Katherine Johnson", "email": "kj@example.com"},
        headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 422, body[:300]
    assert "Not done: the app database refused it" in body and "no_k" in body
    assert 'value="Katherine Johnson"' in body and 'value="kj@example.com"' in body
    assert repository.contacts_list(uri)[1] == before
