"""Fixtures the page tests share: Ada logged in (`user` and `project` are tests/conftest.py's)."""

from __future__ import annotations

import pytest


@pytest.fixture
def client_ada(client, user):
    client.force_login(user)
    return client
