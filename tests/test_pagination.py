"""Pagination: the contact book stays one small page at 100,000 contacts."""

from __future__ import annotations

import time

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from tests.web_fixtures import HX, engine_project_drop, project_demo, url, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return user_make("ada")


@pytest.fixture
def big_book(ada):
    project = project_demo(ada, versions=1)
    uri = services.project_connection_uri(project=project)
    run_sql(
        uri,
        "insert into contacts (name, email) select 'Person ' || lpad(i::text, 6, '0'), "
        "'p' || i || '@example.com' from generate_series(1, 100000) as i",
    )
    yield project
    engine_project_drop(project)


def test_contacts_page_is_small_at_100000_contacts(client, ada, big_book):
    client.force_login(ada)
    detail = url("project-detail", big_book.pk)
    started = time.monotonic()
    first = client.get(detail, {"tab": "app"})
    elapsed = time.monotonic() - started
    body = first.content.decode()
    total = run_sql(
        services.project_connection_uri(project=big_book), "select count(*) from contacts"
    )
    total = total[0][0]
    print(f"\n100,000 contacts: project page {len(first.content):,} bytes in {elapsed:.2f} s")
    assert first.status_code == 200 and len(first.content) < 300_000
    assert f"{total} contacts" in body
    assert body.count('<tr data-contact="') == 50
    assert f"Contacts 1–50 of {total} · page 1 of {-(-total // 50)}" in body
    assert 'rel="next"' in body and 'rel="prev"' not in body
    last = client.get(detail, {"tab": "app", "page": "999999"}).content.decode()
    assert 'rel="prev"' in last and 'rel="next"' not in last
    assert "Person 100000" in last
    second = client.get(detail, {"tab": "app", "page": "2"}).content.decode()
    assert "Person 000051" in second or "Person 000050" in second
    # A page that is not a number is the first page, never a 500.
    assert client.get(detail, {"tab": "app", "page": "²"}).status_code == 200
    assert client.get(detail, {"tab": "app"}, headers=HX).status_code == 200
