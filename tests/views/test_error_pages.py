"""The app's own 404 and 500 pages: styled, with an h1 and a way back to the projects."""

from __future__ import annotations

import pytest
from django.template import loader

from tests.web_fixtures import user_make


@pytest.mark.django_db
def test_not_found_page_has_a_heading_and_a_way_back(client):
    client.force_login(user_make())
    response = client.get("/projects/999999/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in body
    assert 'href="/"' in body and "Back to projects" in body
    assert 'class="topbar"' in body  # the app's header, not Django's bare page


def test_server_error_page_renders_without_a_request_or_database():
    # Django renders 500.html with no request (no context processors): nothing may need one.
    body = loader.get_template("500.html").render()
    assert "<h1>Something went wrong</h1>" in body
    assert 'href="/"' in body and "css/app.css" in body
