"""Helpers for the API tests: tokens, JSON requests, projects made through the API."""

from __future__ import annotations

import json

from django.test import Client

from checkpoints.models import AgentProject, Membership
from checkpoints.tokens import token_create
from tests.web_fixtures import jobs_run_queued

API = "/api/v1"


class Api:
    """A JSON client that sends `Authorization: Bearer <token>`."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def __call__(self, method: str, path: str, body=None, *, raw: bytes | None = None, **query):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = path if path.startswith("/") else f"{API}/{path}"
        if query:
            url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"content_type": "application/json"} if data is not None else {}
        if data is not None:
            kwargs["data"] = data
        return self.client.generic(method, url, headers=headers, **kwargs)

    def get(self, path, **query):
        return self("GET", path, **query)

    def post(self, path, body=None, **query):
        return self("POST", path, body, **query)


def token_for(user, name: str = "agent") -> str:
    return token_create(user=user, name=name)[1]


def project_via_api(api: Api, name: str = "Inventory") -> AgentProject:
    response = api.post("projects", {"name": name})
    assert response.status_code == 202, response.content
    jobs_run_queued()
    return AgentProject.objects.get(pk=response.json()["project"])


def version_via_api(api: Api, project: AgentProject, prompt: str, sql: str | None = None) -> dict:
    body = {"prompt": prompt} | ({"sql": sql} if sql is not None else {})
    response = api.post(f"projects/{project.pk}/versions", body)
    assert response.status_code == 202, response.content
    jobs_run_queued()
    return api.get(response["Location"]).json()


def member_add(project: AgentProject, user, role: str) -> None:
    Membership.objects.create(team=project.team, user=user, role=role)
