"""Jobs over the API: a long action answers 202 + `Location`, or waits with `?wait=true`.

The wait is woken by the job's notifications, lasts up to `CHECKPOINTS_API_WAIT_SECONDS`,
and each token holds at most `CHECKPOINTS_WAITS_PER_OWNER` waits at once.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from checkpoints import doorframe, services
from checkpoints.api.http import ApiError, api_view
from checkpoints.api.inputs import json_body, query_wait
from checkpoints.api.lookups import job_of, project_of
from checkpoints.models import Job
from checkpoints.queue import job_waits
from checkpoints.refusals import not_found
from checkpoints.serialize import JOB_ERROR_STATUS


def wait_limit() -> float:
    return float(settings.CHECKPOINTS_API_WAIT_SECONDS)


def wait_seconds(request: HttpRequest) -> float:
    """`?wait=…&wait_seconds=…`, checked before anything is started."""
    return query_wait(request, maximum=wait_limit())


def _job_wait(request: HttpRequest, job: Job, seconds: float) -> Job:
    """Wait until the job finishes or `seconds` pass (the worker runs it), if this token
    has a free waiting slot; otherwise answer at once (the caller polls `Location`)."""
    job_waits.job_wait_finished(job, seconds, token_id=request.api_token.pk)
    found = Job.objects.filter(pk=job.pk).first()
    if found is None:  # its project was deleted meanwhile
        raise not_found()
    return found


def job_answer(request: HttpRequest, job: Job, seconds: float) -> JsonResponse:
    """202 + Location while the job runs; after `?wait=true`, its outcome."""
    if seconds:
        job = _job_wait(request, job, seconds)
    job = Job.objects.select_related("project").get(pk=job.pk)
    body = doorframe.job_answer(job, user=request.user, token=request.api_token)
    if job.state == Job.State.SUCCEEDED:
        return JsonResponse(body, status=200 if seconds else 202, headers={"Location": body["url"]})
    if job.state in (Job.State.FAILED, Job.State.CANCELLED) and seconds:
        code = body["error"]["code"]
        raise ApiError(JOB_ERROR_STATUS.get(code, 502), code, job.error or code, job=body)
    return JsonResponse(body, status=202, headers={"Location": body["url"]})


@api_view("GET")
def job_detail(request: HttpRequest, pk: int, job_pk: int) -> JsonResponse:
    job = job_of(project_of(request, pk), job_pk)
    seconds = wait_seconds(request)
    if seconds:
        job = _job_wait(request, job, seconds)
    return JsonResponse(doorframe.job_answer(job, user=request.user, token=request.api_token))


@api_view("POST")
def job_cancel(request: HttpRequest, pk: int, job_pk: int) -> JsonResponse:
    """Cancel a job: 200 once cancelled (it was queued), 202 while it stops (it runs)."""
    job = job_of(project_of(request, pk), job_pk)
    json_body(request, allowed=set())
    job = services.job_cancel(job=job, user=request.user)
    job = Job.objects.select_related("project").get(pk=job.pk)
    body = doorframe.job_answer(job, user=request.user, token=request.api_token)
    status = 200 if job.is_finished else 202
    return JsonResponse(body, status=status, headers={"Location": body["url"]})
