"""Pagination: the project page stays small at 100,000 contacts and 1,000 versions; Activity
goes page by page."""

from __future__ import annotations

import time

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import Activity, Version
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


@pytest.fixture
def long_history(ada):
    """A started project at v0, then 1,000 version rows (bulk_create: no engine work; the
    page only reads rows), the newest live."""
    project = project_demo(ada)
    v0 = project.versions.get(number=0)
    Version.objects.bulk_create(
        Version(
            project=project,
            number=n,
            name=f"Step {n:04d}",
            prompt=f"prompt {n}",
            snapshot_id=f"snap-{n}",
            parent=v0,
            created_by=ada,
            manifest=v0.manifest,
        )
        for n in range(1, 1001)
    )
    project.current_version = project.versions.get(number=1000)
    project.save(update_fields=["current_version"])
    yield project
    engine_project_drop(project)


def test_project_page_is_small_at_1000_versions(client, ada, long_history):
    client.force_login(ada)
    detail = url("project-detail", long_history.pk)
    started = time.monotonic()
    first = client.get(detail)
    elapsed = time.monotonic() - started
    body = first.content.decode()
    print(f"\n1,001 versions: project page {len(first.content):,} bytes in {elapsed:.2f} s")
    assert first.status_code == 200 and len(first.content) < 150_000
    # The newest 20 rows, newest first, then the pager with its counts.
    assert body.count('class="version-row') == 20
    assert body.index('id="version-1000"') < body.index('id="version-981"')
    assert 'id="version-980"' not in body
    assert "Versions 1–20 of 1001 · page 1 of 51" in body
    assert "Older versions →" in body and "versions_page=2" in body
    # The timeline shows the newest 20 and says how many came before.
    assert "+981 earlier" in body
    # The dropdowns list the shown page (plus the previous version); a number reaches any.
    dropdown = body[
        body.index('id="diff-from"') : body.index("</select>", body.index('id="diff-from"'))
    ]
    assert dropdown.count("<option") == 20
    assert 'id="diff-from-number"' in body and 'id="diff-to-number"' in body
    last = client.get(detail, {"versions_page": "51"}).content.decode()
    assert 'id="version-0"' in last and "Newer versions" in last and "Older versions" not in last
    assert client.get(detail, {"versions_page": "²"}).status_code == 200
    meta = client.get(detail, {"tab": "meta"}).content.decode()
    assert len(meta) < 150_000 and meta.count("<td><code>snap-") == 50
    assert "Version rows 1–50 of 1001" in meta and "meta_page=2" in meta
    fragment = client.get(detail, {"versions_page": "2"}, headers=HX)
    assert fragment.status_code == 200 and 'id="version-980"' in fragment.content.decode()
    typed = client.get(
        url("version-diff", long_history.pk),
        {"from": "999", "from_number": "3", "to": "1000"},
        headers=HX,
    )
    assert typed.status_code == 200 and "v3" in typed.content.decode()


def test_activity_is_paginated_and_keeps_its_filters(client, ada):
    client.force_login(ada)
    project = project_demo(ada)
    try:
        Activity.objects.bulk_create(
            Activity(project=project, actor=ada, kind=Activity.Kind.ROTATE, detail=f"rotation {i}")
            for i in range(120)
        )
        total = project.activities.count()
        detail = url("project-detail", project.pk)
        first = client.get(detail, {"tab": "activity"}).content.decode()
        assert first.count('class="activity-item') == 50
        assert f"Events 1–50 of {total} · page 1 of {-(-total // 50)}" in first
        assert "activity_page=2" in first and 'rel="next"' in first
        # Filtered by kind, the pager counts only the matches and keeps the filter.
        rotated = client.get(
            url("project-activity", project.pk),
            {"kind": "rotate", "activity_page": "3"},
            headers=HX,
        ).content.decode()
        assert rotated.lstrip().startswith('<ol class="activity" id="activity-list"')
        assert rotated.count('class="activity-item') == 20
        assert "Events 101–120 of 120 · page 3 of 3" in rotated
        assert "kind=rotate" in rotated and 'rel="prev"' in rotated and 'rel="next"' not in rotated
        bad = client.get(url("project-activity", project.pk), {"activity_page": "x"}, headers=HX)
        assert bad.status_code == 200 and "Events 1–50" in bad.content.decode()
    finally:
        engine_project_drop(project)
