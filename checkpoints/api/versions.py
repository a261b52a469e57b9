"""API views of versions: list (paged), save (a job), read, rename, delete, roll back,
restore tables, diff."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse

from checkpoints import doorframe, services
from checkpoints.api.http import Invalid, api_view
from checkpoints.api.inputs import body_as, data_as, json_body
from checkpoints.api.jobs import job_answer, wait_seconds
from checkpoints.api.listing import list_answer
from checkpoints.api.lookups import project_of, version_of
from checkpoints.models import AgentProject, Job
from checkpoints.refusals import MAX_NUMBER
from checkpoints.security.input_guard import int_or_none
from checkpoints.serialize import version_json
from checkpoints.services import history
from checkpoints.shapes.requests import TablesRestore, VersionAsOf, VersionCreate, VersionRename


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
    data = json_body(request, allowed=set(VersionCreate.model_fields))
    if "timestamp" in data or "lsn" in data:
        job = _version_as_of(request, project, data_as(VersionAsOf, data))
        return job_answer(request, job, seconds)
    save = data_as(VersionCreate, data)
    job = services.version_create(
        project=project,
        user=request.user,
        prompt=save.prompt,
        sql=save.sql,
        name=save.name,
        labels=save.labels or {},
    )
    return job_answer(request, job, seconds)


def _version_as_of(request: HttpRequest, project: AgentProject, moment: VersionAsOf) -> Job:
    """POST versions with `timestamp` or `lsn` (as Neon's snapshot): the active branch as
    it was at that moment of the history window; no SQL is applied."""
    return history.version_create_as_of(
        project=project,
        user=request.user,
        timestamp=datetime.fromisoformat(moment.timestamp) if moment.timestamp else None,
        lsn=moment.lsn,
        name=moment.name or "",
        prompt=moment.prompt or "",
    )


@api_view("GET", "PATCH", "DELETE")
def version_detail(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    project = project_of(request, pk)
    version = version_of(project, number)
    if request.method == "PATCH":
        name = body_as(request, VersionRename).name
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
    asked = body_as(request, TablesRestore)
    job = services.version_tables_restore(
        version=version,
        user=request.user,
        tables=asked.tables,
        include_dependencies=asked.include_dependencies,
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
