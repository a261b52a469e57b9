"""API views of SQL reads and migrations: run one read-only statement, describe the
schema (live or `version`), try a migration on a copy, apply or discard it."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse

from checkpoints.api.http import ApiError, Invalid, api_view
from checkpoints.api.inputs import body_as
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.lookups import project_of, version_of
from checkpoints.models import AgentProject, MigrationTrial, Version
from checkpoints.refusals import MAX_ID, MAX_NUMBER, not_found
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import migrations, sql_tools
from checkpoints.shapes.requests import MigrationCreate, SqlRun

VERSION_INVALID = "A version number (0 or more), or leave it out for the live database."


def _version(project: AgentProject, raw: object) -> Version | None:
    if raw is None:
        return None
    number = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str):
        number = int_or_none(raw, maximum=MAX_NUMBER)
    if number is None or not 0 <= number <= MAX_NUMBER:
        raise Invalid({"version": VERSION_INVALID})
    return version_of(project, number)


def _migration(project: AgentProject, pk: int) -> MigrationTrial:
    trial = project.migrations.filter(pk=pk).first() if pk <= MAX_ID else None
    if trial is None:
        raise not_found()
    return trial


@api_view("POST")
def sql_run(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    given = body_as(request, SqlRun)
    version = _version(project, given.version)
    return JsonResponse(
        sql_tools.sql_run(project=project, user=request.user, sql=given.sql, version=version)
    )


@api_view("GET")
def schema(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    version = _version(project, request.GET.get("version"))
    return JsonResponse(
        sql_tools.schema_describe(project=project, user=request.user, version=version)
    )


@api_view("POST")
def migrations_create(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    seconds = wait_seconds(request)
    given = body_as(request, MigrationCreate)
    trial, job = migrations.migration_prepare(
        project=project, user=request.user, sql=given.sql, prompt=given.prompt or ""
    )
    try:
        response = job_answer(request, job, seconds)
    except ApiError as failed:  # failed on the copy: the answer says where, and which one
        trial.refresh_from_db()
        failed.extra["migration"] = migrations.migration_json(trial)
        raise
    trial.refresh_from_db()
    body = {**json.loads(response.content), "migration": migrations.migration_json(trial)}
    return JsonResponse(body, status=response.status_code, headers={"Location": body["url"]})


@api_view("GET", "DELETE")
def migration_detail(request: HttpRequest, pk: int, migration_pk: int) -> JsonResponse:
    trial = _migration(project_of(request, pk), migration_pk)
    if request.method == "DELETE":
        trial = migrations.migration_discard(trial=trial, user=request.user)
    return JsonResponse(migrations.migration_json(trial))


@api_view("POST")
def migration_apply(request: HttpRequest, pk: int, migration_pk: int) -> JsonResponse:
    trial = _migration(project_of(request, pk), migration_pk)
    seconds = wait_seconds(request)
    job = migrations.migration_apply(trial=trial, user=request.user)
    return job_answer(request, job, seconds)
