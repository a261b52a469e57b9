"""The API under /api/v1/ (routed by ninja: `api.routes`), its document, the JSON 404 of
every other /api/ path, and the token settings page (included from checkpoints/urls.py)."""

from __future__ import annotations

from django.urls import path, re_path

from checkpoints.api import meta, pages
from checkpoints.api.routes import url_patterns

urlpatterns = [
    path("settings/tokens/", pages.token_list, name="token-list"),
    path("settings/tokens/<int:token_pk>/revoke", pages.token_revoke, name="token-revoke"),
    path("api/v1/openapi.json", meta.openapi, name="api-openapi"),
    *url_patterns(),
    re_path(r"^api/(?P<rest>[\s\S]*)$", meta.unknown, name="api-unknown"),
]
