"""What every door (API, MCP, command line) answers the same way: the list of versions,
a diff, a rollback plan, a finished job, a share link just made, a connection string.

Each door finds its project (`selectors`), calls one of these, and maps a `Refusal` to
its own protocol (HTTP status, MCP tool error, `CommandError` + `--json`). The shapes
are `checkpoints.shapes`; `tests/doors/test_doors_agree.py` drives the same flow through
the three doors and compares their answers field by field.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from checkpoints import services, shapes
from checkpoints.models import AgentProject, Job, Version
from checkpoints.paging import Page
from checkpoints.refusals import Refusal
from checkpoints.rules import permissions
from checkpoints.rules.version_labels import LabelsInvalid, labels_filter
from checkpoints.serialize import job_json, preview_json, share_json
from checkpoints.services import lifecycle
from checkpoints.services.sharing import ShareCreated
from checkpoints.tokens import ApiToken, uri_shown


def uri_for(token: ApiToken | None, uri: str, *, reveal: bool) -> str:
    """A connection string as a door shows it: the command line (no token: the server's
    own operator) in full, a token's caller masked unless `reveal` and it may."""
    return uri if token is None else uri_shown(token, uri, reveal=reveal)


def versions_listed(
    project: AgentProject, *, deleted: bool = False, labels: list[str] | None = None
) -> QuerySet[Version]:
    """The project's versions, oldest first (`deleted`: also the deleted ones), filtered by
    `labels` ("key:value" or "key"; `invalid` on the `label` field otherwise)."""
    listed = project.versions.select_related("parent", "created_by", "deleted_by")
    listed = listed.order_by("number", "pk")
    if not deleted:
        listed = listed.filter(deleted_at__isnull=True)
    try:
        return labels_filter(listed, labels or [])
    except LabelsInvalid as error:
        raise Refusal(400, "invalid", error.message, {"label": error.message}) from None


def page_answer(page: Page, **links: str | None) -> dict[str, Any]:
    """A page of a list as every door answers it: where it stands (`count`, `page`,
    `per_page`, `pages`, `next_page`, `previous_page`; the API adds the links `next` and
    `previous`) and its `items` (already answered through their shapes)."""
    return {**shapes.Page(**page.counts(), **links).answer(), "items": page.items}


def _diff_body(diff: lifecycle.Diff) -> dict[str, Any]:
    if diff.unavailable or diff.changes is None:
        raise Refusal(422, "diff_unavailable", diff.unavailable)
    return {"summary": diff.summary, **diff.changes}


def diff_answer(old: Version, new: Version) -> dict[str, Any]:
    """What going from `old` to `new` changes (their stored manifests), flat:
    {from, to, summary, tables_added, tables_removed, tables, empty}."""
    body = _diff_body(lifecycle.version_diff(old=old, new=new))
    return shapes.Diff(**{"from": old.number, "to": new.number, **body}).answer()


def plan_answer(project: AgentProject, version: Version) -> dict[str, Any]:
    """What rolling the live database back to `version` would change now (one bounded
    live read): {version, current_version, summary, tables_added, …}. Nothing changes."""
    body = _diff_body(lifecycle.rollback_diff(project=project, version=version))
    current = project.current_version
    number = current.number if current is not None else None
    return shapes.Plan(version=version.number, current_version=number, **body).answer()


def job_answer(
    job: Job, *, user: Any, token: ApiToken | None, reveal: bool = False
) -> dict[str, Any]:
    """The job as every door answers it; a live preview it opened also carries its
    connection string (operators and owners, like GET …/previews/{id})."""
    job = Job.objects.select_related("project", "project__team").get(pk=job.pk)
    body = job_json(job)
    preview = job.preview if job.preview_id else None
    if preview is not None:
        body["preview"] = preview_answer(preview, user=user, token=token, reveal=reveal)
    return body


def preview_answer(preview: Any, *, user: Any, token: ApiToken | None, reveal: bool) -> dict:
    """A preview; while live, with its connection string if the user's role may see it."""
    uri = None
    role = permissions.role_for(user, preview.project)
    if preview.is_live and permissions.allows(role, "connection_uri"):
        uri = uri_for(token, services.preview_connection_uri(preview=preview), reveal=reveal)
    return preview_json(preview, connection_uri=uri)


def share_created(created: ShareCreated, *, link: str) -> dict[str, Any]:
    """A link just made: its path (and `link`, absolute when the door knows its host) and
    its token, shown only in this answer."""
    made = {"path": created.path, "link": link, "token": created.token}
    return shapes.Share(**share_json(created.share), **made).answer()


def connection_answer(
    project: AgentProject, *, token: ApiToken | None, reveal: bool
) -> dict[str, Any]:
    """The project's stable connection string (password masked unless `reveal`)."""
    uri = services.project_connection_uri(project=project)
    shown = uri_for(token, uri, reveal=reveal)
    return shapes.Connection(project=project.pk, connection_uri=shown, masked=shown != uri).answer()
