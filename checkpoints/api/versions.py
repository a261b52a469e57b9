"""API views of versions: list (paged), save (a job), read, rename, delete, roll back,
restore tables, diff."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse

from checkpoints import doorframe, services
from checkpoints.api.http import Invalid, api_view
from checkpoints.api.inputs import json_body, text_field
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.listing import list_answer
from checkpoints.api.lookups import project_of, version_of
from checkpoints.models import AgentProject, Job
from checkpoints.refusals import MAX_NUMBER
from checkpoints.rules.version_labels import LabelsInvalid, labels_clean
from checkpoints.security.input_guard import int_or_none
from checkpoints.serialize import version_json
from checkpoints.services import history

AS_OF = ("timestamp", "lsn")


@api_view("GET", "POST")
def versions(request: HttpRequest, pk: int) -> JsonResponse:
    project = project_of(request, pk)
    if request.method == "POST":
        return _version_create(request, project)
    deleted = request.GET.get("deleted", "false").lower()
    if deleted not in {"true", "false", "1", "0"}:
        raise Invalid({"deleted": "Must be true or false."})
    # ?label=git_sha:3f2a9c1 (repeat to require several)
    labels = request.GET.getlist("label")
    listed = doorframe.versions_listed(project, deleted=deleted in {"true", "1"}, labels=labels)
    current = project.current_version_id
    return list_answer(request, listed, lambda v: version_json(v, current_id=current))


def _version_create(request: HttpRequest, project: AgentProject) -> JsonResponse:
    seconds = wait_seconds(request)
    data = json_body(request, allowed={"prompt", "sql", "name", "labels", "timestamp", "lsn"})
    if "timestamp" in data or "lsn" in data:
        return job_answer(request, _version_as_of(request, project, data), seconds)
    errors: dict[str, str] = {}
    prompt = text_field(data, "prompt", errors, required=True, max_length=10000)
    sql = text_field(data, "sql", errors, required=False, max_length=1_000_000, strip=False)
    name = text_field(data, "name", errors, required=False, max_length=200)
    labels: dict[str, str] = {}
    try:
        labels = labels_clean(data.get("labels"))
    except LabelsInvalid as error:
        errors["labels"] = error.message
    if errors:
        raise Invalid(errors)
    assert prompt is not None
    job = services.version_create(
        project=project, user=request.user, prompt=prompt, sql=sql, name=name, labels=labels
    )
    return job_answer(request, job, seconds)


def _version_as_of(request: HttpRequest, project: AgentProject, data: dict) -> Job:
    """POST versions with `timestamp` or `lsn` (as Neon's snapshot): the active branch as
    it was at that moment of the history window; no SQL is applied."""
    errors: dict[str, str] = {}
    prompt = text_field(data, "prompt", errors, required=False, max_length=10000)
    name = text_field(data, "name", errors, required=False, max_length=200)
    raw = {key: text_field(data, key, errors, required=False, max_length=64) for key in AS_OF}
    if data.get("sql"):
        errors["sql"] = "A version as of a past moment applies no SQL."
    if data.get("labels"):
        errors["labels"] = "A version as of a past moment takes no labels."
    timestamp = None
    if raw["timestamp"]:
        try:
            timestamp = datetime.fromisoformat(raw["timestamp"])
        except ValueError:
            errors["timestamp"] = "An ISO 8601 date and time, e.g. 2026-05-01T10:32:05Z."
    if errors:
        raise Invalid(errors)
    return history.version_create_as_of(
        project=project,
        user=request.user,
        timestamp=timestamp,
        lsn=raw["lsn"],
        name=name or "",
        prompt=prompt or "",
    )


@api_view("GET", "PATCH", "DELETE")
def version_detail(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    project = project_of(request, pk)
    version = version_of(project, number)
    if request.method == "PATCH":
        data = json_body(request, allowed={"name"})
        errors: dict[str, str] = {}
        name = text_field(data, "name", errors, required=True, max_length=200)
        if errors:
            raise Invalid(errors)
        assert name is not None
        version = services.version_rename(version=version, user=request.user, name=name)
    elif request.method == "DELETE":
        seconds = wait_seconds(request)
        job = services.version_delete(version=version, user=request.user)
        return job_answer(request, job, seconds)
    project.refresh_from_db(fields=["current_version"])
    return JsonResponse(version_json(version, current_id=project.current_version_id))


@api_view("POST")
def version_rollback(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    project = project_of(request, pk)
    version = version_of(project, number)
    seconds = wait_seconds(request)
    json_body(request, allowed=set())
    job = services.version_rollback(project=project, version=version, user=request.user)
    return job_answer(request, job, seconds)


@api_view("POST")
def version_pin(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    """Keep the version hot whatever the tier policy says."""
    return _pin_set(request, pk, number, services.version_pin)


@api_view("POST")
def version_unpin(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    return _pin_set(request, pk, number, services.version_unpin)


def _pin_set(request: HttpRequest, pk: int, number: int, use_case) -> JsonResponse:
    project = project_of(request, pk)
    version = version_of(project, number)
    json_body(request, allowed=set())
    version = use_case(version=version, user=request.user)
    return JsonResponse(version_json(version, current_id=project.current_version_id))


@api_view("POST")
def version_restore_tables(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    """Give the live database some tables as they were in this version (a job)."""
    project = project_of(request, pk)
    version = version_of(project, number)
    seconds = wait_seconds(request)
    data = json_body(request, allowed={"tables", "include_dependencies"})
    tables, include = data.get("tables"), data.get("include_dependencies", False)
    errors: dict[str, str] = {}
    if not isinstance(tables, list) or not tables or len(tables) > 500:
        errors["tables"] = "Give a list of 1 to 500 table names."
    elif not all(isinstance(t, str) and 0 < len(t) <= 200 for t in tables):
        errors["tables"] = "Each table name is a string of 1 to 200 characters."
    if not isinstance(include, bool):
        errors["include_dependencies"] = "Must be true or false."
    if errors:
        raise Invalid(errors)
    job = services.version_tables_restore(
        version=version, user=request.user, tables=tables, include_dependencies=include
    )
    return job_answer(request, job, seconds)


@api_view("POST")
def rollback_undo(request: HttpRequest, pk: int) -> JsonResponse:
    """Roll forward to what the last rollback replaced (its automatic version)."""
    project = project_of(request, pk)
    seconds = wait_seconds(request)
    json_body(request, allowed=set())
    job = services.rollback_undo(project=project, user=request.user)
    return job_answer(request, job, seconds)


@api_view("GET")
def version_diff(request: HttpRequest, pk: int) -> JsonResponse:
    """Schema diff between two versions: only possible from manifests stored with each."""
    project = project_of(request, pk)
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for key in ("from", "to"):
        number = int_or_none(request.GET.get(key, ""), maximum=MAX_NUMBER)
        if number is None:
            errors[key] = "Give a version number (an integer from 0)."
        else:
            numbers[key] = number
    if errors:
        raise Invalid(errors)
    old, new = version_of(project, numbers["from"]), version_of(project, numbers["to"])
    return JsonResponse(doorframe.diff_answer(old, new))


@api_view("GET")
def rollback_plan(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    """What rolling back to this version would change in the live database now (read
    within a few seconds); nothing is changed."""
    project = project_of(request, pk)
    return JsonResponse(doorframe.plan_answer(project, version_of(project, number)))
