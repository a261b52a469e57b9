"""The request bodies are declared once (`checkpoints.shapes.requests`): the OpenAPI
document's requestBody of each operation is its model's generated schema, and what the
schema allows or refuses is what the API accepts or refuses, in the API's sentences."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from checkpoints.api.openapi import openapi_document
from checkpoints.models import AgentProject, Job, Membership
from checkpoints.services import sharing
from checkpoints.shapes import openapi_components
from checkpoints.shapes.fields import HOURS, NUL, said
from checkpoints.shapes.requests import (
    REQUESTS,
    ProjectCreate,
    ShareCreate,
    TablesRestore,
    VersionAsOf,
    VersionCreate,
)
from tests.api_helpers import Api, token_for
from tests.web_fixtures import user_make

DOC = openapi_document()
SCHEMAS = DOC["components"]["schemas"]


def _request_refs() -> dict[str, str]:
    """`METHOD path` -> the component its JSON requestBody refers to."""
    refs = {}
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body:
                schema = body["content"]["application/json"]["schema"]
                refs[f"{method.upper()} {path}"] = schema.get("$ref", "inline")
    return refs


def test_every_request_body_is_a_generated_model():
    refs = _request_refs()
    assert "inline" not in refs.values(), refs
    named = {ref.rsplit("/", 1)[1] for ref in refs.values()}
    assert named == {model.__name__ for model in REQUESTS}
    generated = openapi_components()
    for model in REQUESTS:
        assert SCHEMAS[model.__name__] == generated[model.__name__]
    assert refs["POST /api/v1/projects/{project_id}/versions"].endswith("/VersionCreate")


def _valid(model, body: dict, **context) -> dict[str, str] | None:
    try:
        model.model_validate(body, context=context or None)
    except ValidationError as error:
        return said(model, error)
    return None


def _schema_allows(model, body: dict) -> bool:
    schema = {**SCHEMAS[model.__name__], "components": DOC["components"]}
    return Draft202012Validator(schema).is_valid(body)


AGREE = [
    (ProjectCreate, {"name": "Shop"}),
    (ProjectCreate, {"name": "Shop", "team": 3, "connection": None}),
    (ProjectCreate, {"name": ""}, {"name": "Must not be empty."}),
    (ProjectCreate, {"name": "a" * 201}, {"name": "At most 200 characters."}),
    (ProjectCreate, {"name": 7}, {"name": "Must be a string."}),
    (ProjectCreate, {}, {"name": "This field is required."}),
    (ProjectCreate, {"name": "x", "team": -1}, {"team": f"Must be an integer from 0 to {2**63 - 1}."}),
    (ProjectCreate, {"name": "x", "team": True}, {"team": f"Must be an integer from 0 to {2**63 - 1}."}),
    (ProjectCreate, {"name": "x", "colour": "red"}, {"colour": "Unknown field."}),
    (VersionCreate, {"prompt": "Add", "sql": "create table t ()", "labels": {"git_sha": "3f2a"}}),
    (VersionCreate, {"prompt": "Add", "name": "x" * 201}, {"name": "At most 200 characters."}),
    (VersionCreate, {"prompt": "Add", "sql": 1}, {"sql": "Must be a string."}),
    (ShareCreate, {"version": 1, "hours": 168}),
    (ShareCreate, {"version": 1, "hours": 169}, {"hours": "Must be an integer from 0 to 168."}),
    (ShareCreate, {"version": 1, "hours": 0}, {"hours": HOURS}),
    (TablesRestore, {"tables": ["contacts"], "include_dependencies": True}),
    (TablesRestore, {"tables": []}, {"tables": "Give a list of 1 to 500 table names."}),
    (TablesRestore, {"tables": [""]}, {"tables": "Each table name is a string of 1 to 200 characters."}),
    (TablesRestore, {"tables": ["t"], "include_dependencies": 1}, {"include_dependencies": "Must be true or false."}),
]  # fmt: skip


@pytest.mark.parametrize("case", AGREE, ids=lambda case: f"{case[0].__name__}-{case[1]}"[:60])
def test_the_schema_and_the_validation_agree(case):
    model, body, *refused = case
    expected = refused[0] if refused else None
    assert _valid(model, body) == expected
    assert _schema_allows(model, body) is (expected is None)


def test_the_sentences_the_services_say_are_the_same():
    assert HOURS == sharing.HOURS_INVALID


def test_a_version_as_of_a_moment_is_described_by_version_create():
    """The document's one `VersionCreate` covers both: a save (prompt) and a moment."""
    for body in ({"timestamp": "2026-05-01T10:32:05Z"}, {"lsn": "0/1A2B3C", "name": "then"}):
        assert _valid(VersionAsOf, body) is None and _schema_allows(VersionCreate, body)
    refused = _valid(VersionAsOf, {"timestamp": "yesterday", "sql": "drop table t"})
    assert set(refused or {}) == {"timestamp", "sql"}
    assert _valid(VersionCreate, {"name": "no prompt"}) == {"prompt": "This field is required."}
    assert not _schema_allows(VersionCreate, {"name": "no prompt"})


@pytest.mark.django_db
def test_version_create_refuses_over_http_in_the_api_sentences():
    ada = user_make("ada")
    team = Membership.objects.filter(user=ada).first().team
    project = AgentProject.objects.create(team=team, created_by=ada, name="P", engine_name="local")
    api = Api(token_for(ada))
    path = f"projects/{project.pk}/versions"
    for body, details in [
        ({"prompt": "x", "colour": "red"}, {"colour": "Unknown field."}),
        ({"prompt": "x", "name": "n" * 201}, {"name": "At most 200 characters."}),
        ({"prompt": " ", "name": "a\x00b"}, {"prompt": "Must not be empty.", "name": NUL}),
        ({"prompt": None}, {"prompt": "This field is required."}),
    ]:
        response = api.post(path, body)
        assert response.status_code == 400, response.content
        answer = response.json()
        assert answer["code"] == "invalid" and answer["details"] == details
    assert not Job.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_project_create_names_a_team_not_yours_beside_other_fields():
    api = Api(token_for(user_make("ada")))
    response = api.post("projects", {"name": "", "team": 999999})
    assert response.json()["details"] == {
        "name": "Must not be empty.",
        "team": "Not a team you belong to.",
    }
