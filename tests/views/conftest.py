"""Fixtures the page tests share: Ada, logged in, and her demo project at v3."""

from __future__ import annotations

import pytest

from tests.web_fixtures import engine_project_drop, project_demo, user_make


@pytest.fixture
def user():
    return user_make("ada")


@pytest.fixture
def client_ada(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def project(user):
    project = project_demo(user, versions=3)
    yield project
    engine_project_drop(project)
