"""API views: parse and check input, call a service, answer JSON. Never an engine call.

Long actions (create project, create/delete version, rollback, preview open/discard)
answer `202 Accepted` with the job and a `Location` to poll, or with `?wait=true` wait
(woken by the job's notifications, up to `CHECKPOINTS_API_WAIT_SECONDS`, at most
`CHECKPOINTS_WAITS_PER_OWNER` waits per token at once) and answer the outcome.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse

from checkpoints import job_waits, permissions, selectors, services
from checkpoints.api.http import (
    MAX_ID,
    MAX_NUMBER,
    ApiError,
    Invalid,
    api_view,
    int_field,
    json_body,
    not_found,
    query_wait,
    text_field,
)
from checkpoints.api.openapi import openapi_document
from checkpoints.api.serialize import (
    JOB_ERROR_STATUS,
    job_json,
    preview_json,
    project_json,
    version_json,
)
from checkpoints.input_guard import int_or_none
from checkpoints.models import AgentProject, Job, Membership, Preview, Team, Version
from checkpoints.services import lifecycle

DIFF_UNAVAILABLE = (
    "A diff needs the schema manifest stored with both versions; "
    "versions {missing} have none, and a schema cannot be read back from a snapshot later."
)


def wait_limit() -> float:
    return float(getattr(settings, "CHECKPOINTS_API_WAIT_SECONDS", 15))


# Lookups: another user's project answers exactly like a missing one ----------------------


def _project(request: HttpRequest, pk: int) -> AgentProject:
    if pk > MAX_ID:
        raise not_found()
    project = selectors.projects_for(request.user).filter(pk=pk).first()
    if project is None:
        raise not_found()
    return project


def _role(request: HttpRequest, project: AgentProject) -> str | None:
    return permissions.role_for(request.user, project)


def _versions(project: AgentProject) -> QuerySet[Version]:
    return project.versions.select_related("parent", "created_by", "deleted_by")


def _version(project: AgentProject, number: int) -> Version:
    """The live version `number`, else the latest deleted one (so it can answer 422)."""
    if number > MAX_NUMBER:
        raise not_found()
    versions = _versions(project).filter(number=number)
    version = versions.filter(deleted_at__isnull=True).first() or versions.order_by("-pk").first()
    if version is None:
        raise not_found()
    return version


def _preview(project: AgentProject, pk: int) -> Preview:
    if pk > MAX_ID:
        raise not_found()
    preview = project.previews.select_related("version", "project").filter(pk=pk).first()
    if preview is None:
        raise not_found()
    return preview


# Jobs --------------------------------------------------------------------------------------


def _job_wait(request: HttpRequest, job: Job, seconds: float) -> Job:
    """Wait until the job finishes or `seconds` pass (the worker runs it), if this token
    has a free waiting slot; otherwise answer at once (the caller polls `Location`)."""
    job_waits.job_wait_finished(job, seconds, token_id=request.api_token.pk)
    found = Job.objects.filter(pk=job.pk).first()
    if found is None:  # its project was deleted meanwhile
        raise not_found()
    return found


def _wait(request: HttpRequest) -> float:
    """`?wait=…&wait_seconds=…`, checked before anything is started."""
    return query_wait(request, maximum=wait_limit())


def _job_answer(request: HttpRequest, job: Job, seconds: float) -> JsonResponse:
    """202 + Location while the job runs; after `?wait=true`, its outcome."""
    if seconds:
        job = _job_wait(request, job, seconds)
    job = Job.objects.select_related("project").get(pk=job.pk)
    body = job_json(job)
    if job.state == Job.State.SUCCEEDED:
        return JsonResponse(body, status=200 if seconds else 202, headers={"Location": body["url"]})
    if job.state in (Job.State.FAILED, Job.State.CANCELLED) and seconds:
        code = body["error"]["code"]
        raise ApiError(JOB_ERROR_STATUS.get(code, 502), code, job.error or code, job=body)
    return JsonResponse(body, status=202, headers={"Location": body["url"]})


@api_view("GET")
def job_detail(request: HttpRequest, pk: int, job_pk: int) -> JsonResponse:
    project = _project(request, pk)
    if job_pk > MAX_ID:
        raise not_found()
    job = project.jobs.filter(pk=job_pk).first()
    if job is None:
        raise not_found()
    seconds = _wait(request)
    if seconds:
        job = _job_wait(request, job, seconds)
    job = Job.objects.select_related("project").get(pk=job.pk)
    return JsonResponse(job_json(job))


@api_view("POST")
def job_cancel(request: HttpRequest, pk: int, job_pk: int) -> JsonResponse:
    """Cancel a job: 200 once cancelled (it was queued), 202 while it stops (it runs)."""
    project = _project(request, pk)
    if job_pk > MAX_ID:
        raise not_found()
    job = project.jobs.filter(pk=job_pk).first()
    if job is None:
        raise not_found()
    json_body(request, allowed=set())
    job = services.job_cancel(job=job, user=request.user)
    job = Job.objects.select_related("project").get(pk=job.pk)
    body = job_json(job)
    status = 200 if job.is_finished else 202
    return JsonResponse(body, status=status, headers={"Location": body["url"]})


# Projects ----------------------------------------------------------------------------------


@api_view("GET", "POST")
def projects(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return _project_create(request)
    roles = dict(Membership.objects.filter(user=request.user).values_list("team_id", "role"))
    items = [
        project_json(p, role=roles.get(p.team_id)) for p in selectors.projects_for(request.user)
    ]
    return JsonResponse({"items": items})


def _project_create(request: HttpRequest) -> JsonResponse:
    seconds = _wait(request)
    data = json_body(request, allowed={"name", "team"})
    errors: dict[str, str] = {}
    name = text_field(data, "name", errors, required=True, max_length=200)
    team_id = int_field(data, "team", errors, required=False, maximum=MAX_ID)
    team = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id, memberships__user=request.user).first()
        if team is None:
            errors["team"] = "Not a team you belong to."
    if errors:
        raise Invalid(errors)
    assert name is not None
    job = services.project_create(user=request.user, name=name, team=team)
    return _job_answer(request, job, seconds)


@api_view("GET", "DELETE")
def project_detail(request: HttpRequest, pk: int) -> JsonResponse:
    project = _project(request, pk)
    if request.method == "DELETE":
        services.project_delete(project=project, user=request.user)
        return HttpResponse(status=204)
    return JsonResponse(project_json(project, role=_role(request, project)))


@api_view("GET")
def project_connection(request: HttpRequest, pk: int) -> JsonResponse:
    """The stable connection string (with its password): operators and owners only."""
    project = _project(request, pk)
    permissions.require(request.user, project, "connection_uri")
    uri = services.project_connection_uri(project=project)
    return JsonResponse({"connection_uri": uri, "project": project.pk})


@api_view("POST")
def project_password_rotate(request: HttpRequest, pk: int) -> JsonResponse:
    """A new password (owners): the old one stops working, its sessions end. Answers the
    new connection string."""
    project = _project(request, pk)
    json_body(request, allowed=set())
    services.project_password_rotate(project=project, user=request.user)
    uri = services.project_connection_uri(project=project)
    return JsonResponse({"connection_uri": uri, "project": project.pk})


# Versions ----------------------------------------------------------------------------------


@api_view("GET", "POST")
def versions(request: HttpRequest, pk: int) -> JsonResponse:
    project = _project(request, pk)
    if request.method == "POST":
        seconds = _wait(request)
        data = json_body(request, allowed={"prompt", "sql", "name"})
        errors: dict[str, str] = {}
        prompt = text_field(data, "prompt", errors, required=True, max_length=10000)
        sql = text_field(data, "sql", errors, required=False, max_length=1_000_000, strip=False)
        name = text_field(data, "name", errors, required=False, max_length=200)
        if errors:
            raise Invalid(errors)
        assert prompt is not None
        job = services.version_create(
            project=project, user=request.user, prompt=prompt, sql=sql, name=name
        )
        return _job_answer(request, job, seconds)
    deleted = request.GET.get("deleted", "false").lower()
    if deleted not in {"true", "false", "1", "0"}:
        raise Invalid({"deleted": "Must be true or false."})
    listed = _versions(project).order_by("number", "pk")
    if deleted in {"false", "0"}:
        listed = listed.filter(deleted_at__isnull=True)
    current = project.current_version_id
    return JsonResponse({"items": [version_json(v, current_id=current) for v in listed]})


@api_view("GET", "PATCH", "DELETE")
def version_detail(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    project = _project(request, pk)
    version = _version(project, number)
    if request.method == "PATCH":
        data = json_body(request, allowed={"name"})
        errors: dict[str, str] = {}
        name = text_field(data, "name", errors, required=True, max_length=200)
        if errors:
            raise Invalid(errors)
        assert name is not None
        version = services.version_rename(version=version, user=request.user, name=name)
    elif request.method == "DELETE":
        seconds = _wait(request)
        job = services.version_delete(version=version, user=request.user)
        return _job_answer(request, job, seconds)
    project.refresh_from_db(fields=["current_version"])
    return JsonResponse(version_json(version, current_id=project.current_version_id))


@api_view("POST")
def version_rollback(request: HttpRequest, pk: int, number: int) -> JsonResponse:
    project = _project(request, pk)
    version = _version(project, number)
    seconds = _wait(request)
    json_body(request, allowed=set())
    job = services.version_rollback(project=project, version=version, user=request.user)
    return _job_answer(request, job, seconds)


@api_view("GET")
def version_diff(request: HttpRequest, pk: int) -> JsonResponse:
    """Schema diff between two versions: only possible from manifests stored with each."""
    project = _project(request, pk)
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
    pair = [_version(project, numbers["from"]), _version(project, numbers["to"])]
    missing = [v.label for v in pair if not v.manifest]
    if missing:
        message = DIFF_UNAVAILABLE.format(missing=" and ".join(missing))
        raise ApiError(422, "diff_unavailable", message)
    diff = lifecycle.version_diff(old=pair[0], new=pair[1])
    return JsonResponse(
        {"from": pair[0].number, "to": pair[1].number, "summary": diff.summary, **diff.changes}
    )


# Previews ----------------------------------------------------------------------------------


@api_view("GET", "POST")
def previews(request: HttpRequest, pk: int) -> JsonResponse:
    project = _project(request, pk)
    if request.method == "POST":
        seconds = _wait(request)
        data = json_body(request, allowed={"version"})
        errors: dict[str, str] = {}
        number = int_field(data, "version", errors, required=True)
        if errors:
            raise Invalid(errors)
        assert number is not None
        version = _version(project, number)
        job = services.preview_open(project=project, version=version, user=request.user)
        return _job_answer(request, job, seconds)
    live = selectors.previews_live(project=project)
    return JsonResponse({"items": [preview_json(p) for p in live]})


@api_view("GET", "DELETE")
def preview_detail(request: HttpRequest, pk: int, preview_pk: int) -> JsonResponse:
    """A preview; while it is live, with its connection string for operators and owners."""
    project = _project(request, pk)
    preview = _preview(project, preview_pk)
    if request.method == "DELETE":
        seconds = _wait(request)
        job = services.preview_discard(preview=preview, user=request.user)
        return _job_answer(request, job, seconds)
    uri = None
    if preview.is_live and permissions.allows(_role(request, project), "connection_uri"):
        uri = services.preview_connection_uri(preview=preview)
    return JsonResponse(preview_json(preview, connection_uri=uri))


# The description and unknown paths ---------------------------------------------------------


@api_view("GET", auth=False)
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


@api_view("GET", "POST", "PUT", "PATCH", "DELETE", auth=False)
def unknown(request: HttpRequest, rest: str = "") -> JsonResponse:
    raise not_found()
