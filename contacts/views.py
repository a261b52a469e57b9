"""The contact book: the app the "agent" builds, served from the active branch.

It talks to the app database through its connection string (psycopg, not the ORM) and
adapts to the schema the database holds. The same fragment renders a preview's data,
read-only, from the preview branch's own connection string.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps

import psycopg
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from checkpoints import services
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, Preview
from checkpoints.queue import job_watchdog
from checkpoints.rules import permissions, selectors
from checkpoints.views.app_panel import locked_read_message
from contacts import compare, repository
from contacts.forms import ContactForm

logger = logging.getLogger(__name__)

APP_UNAVAILABLE = "The app database is not reachable right now: {error}"
NOT_REACHED = (
    "Not done: the app database is not reachable right now ({error}). Nothing was changed; "
    "try again in a moment."
)
NOT_TAKEN = "Not done: the app database refused it ({error}). Nothing was changed."
APP_TEMPLATE = "contacts/_contacts_app.html"
CONTACTS_PER_PAGE = 50


def contacts_app_context(
    *,
    project: AgentProject,
    preview: Preview | None = None,
    schema_only: bool = False,
    form: ContactForm | None = None,
    editing: repository.Contact | None = None,
    can_edit: bool = True,
    page: int = 1,
    side_by_side: bool = False,
) -> dict:
    """What the contacts fragment needs: schema, contacts, the add (or edit) form.

    Read-only for a preview, and for a role that may not edit contacts (`can_edit`).
    `side_by_side` (with a preview): the live app and the preview's, compared."""
    if side_by_side and preview is not None:
        return {"side": compare.side_by_side_context(project=project, preview=preview)}
    read_only = preview is not None or not can_edit
    app: dict = {"read_only": read_only, "preview": preview, "editing": editing}
    uri = ""
    try:
        if preview is not None:
            uri = services.preview_connection_uri(preview=preview)
        else:
            uri = services.project_connection_uri(project=project)
        if schema_only:
            app["schema"] = repository.schema_read(uri)
        else:
            found = repository.contacts_page(uri, page=page, per_page=CONTACTS_PER_PAGE)
            app["schema"], app["contacts"], app["page"] = found.schema, found.contacts, found
    except Exception as exc:
        logger.warning("contacts of project %s: %s", project.pk, exc)
        locked = locked_read_message(exc, uri) if uri else None
        app["error"] = locked or APP_UNAVAILABLE.format(error=mask_password(str(exc)))
        return {"app": app}
    if not schema_only and app["schema"].variant and not app["read_only"]:
        app["form"] = form or ContactForm(schema=app["schema"])
    return {"app": app}


def _render_app(
    request: HttpRequest,
    project: AgentProject,
    *,
    form: ContactForm | None = None,
    editing: repository.Contact | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        **contacts_app_context(project=project, form=form, editing=editing),
    }
    template = APP_TEMPLATE if request.htmx else "contacts/contacts_page.html"
    return render(request, template, context, status=status)


def _done(request: HttpRequest, project: AgentProject, said: str) -> HttpResponse:
    if request.htmx:
        # The page's live region reads `said` out (app.js listens for "announce").
        return trigger_client_event(_render_app(request, project), "announce", {"message": said})
    return redirect("project-detail", pk=project.pk)


def _save(request: HttpRequest, project: AgentProject, contact_id: uuid.UUID | None):
    uri = services.project_connection_uri(project=project)
    schema = repository.schema_read(uri)
    if not schema.variant:
        raise Http404("This version of the app has no contacts yet.")
    form = ContactForm(request.POST, schema=schema)
    editing = None
    if contact_id is not None:
        try:
            _, editing = repository.contact_get(uri, contact_id)
        except repository.ContactNotFound as exc:
            raise Http404("No such contact.") from exc
    if form.is_valid():
        try:
            if editing is None:
                repository.contact_create(uri, schema=schema, data=form.cleaned_data)
                said = f"Added {form.cleaned_data['name']}."
            else:
                repository.contact_update(
                    uri, schema=schema, contact_id=editing.id, data=form.cleaned_data
                )
                said = f"Saved {form.cleaned_data['name']}."
        except repository.EmailTaken:
            form.add_email_taken()
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise  # not reached: `_unreachable_answered`
            # A constraint or trigger of the agent's: the form again, with its reason.
            form.add_error(None, NOT_TAKEN.format(error=mask_password(str(exc)).strip()))
        else:
            return _done(request, project, said)
    # Invalid: the form comes back with what was typed and the messages inline.
    return _render_app(request, project, form=form, editing=editing, status=422)


def _unreachable_answered(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A contact write whose app database cannot be reached (a rollback swapping it, its
    password just rotated) or refuses it (a constraint or trigger the agent made) answers
    the app with why, as a conflict: never a 500."""

    @wraps(view)
    def wrapper(request: HttpRequest, pk: int, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, pk, *args, **kwargs)
        except (psycopg.Error, EngineError) as exc:
            project = _project_editable(request, pk)
            error = mask_password(str(exc)).strip()
            logger.warning("contact change in project %s not done: %s", project.pk, error)
            reached = not isinstance(exc, (psycopg.OperationalError, EngineError))
            said = NOT_TAKEN if reached else NOT_REACHED
            context = {"project": project, **contacts_app_context(project=project)}
            context["app"]["error"] = job_watchdog.lock_table_full(exc) or said.format(error=error)
            template = APP_TEMPLATE if request.htmx else "contacts/contacts_page.html"
            return render(request, template, context, status=409)

    return wrapper


def _project_editable(request: HttpRequest, pk: int) -> AgentProject:
    """The project, if the user's role may edit its contacts (else 403, through handler403)."""
    project = selectors.project_get(user=request.user, pk=pk)
    permissions.require(request.user, project, "contacts_edit")
    return project


@require_POST
@_unreachable_answered
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_editable(request, pk)
    return _save(request, project, None)


@require_http_methods(["GET", "POST"])
@_unreachable_answered
def contact_update(request: HttpRequest, pk: int, contact_id: uuid.UUID) -> HttpResponse:
    project = _project_editable(request, pk)
    if request.method == "POST":
        return _save(request, project, contact_id)
    uri = services.project_connection_uri(project=project)
    try:
        schema, contact = repository.contact_get(uri, contact_id)
    except repository.ContactNotFound as exc:
        raise Http404("No such contact.") from exc
    form = ContactForm.for_contact(contact, schema=schema)
    return _render_app(request, project, form=form, editing=contact)


@require_POST
@_unreachable_answered
def contact_delete(request: HttpRequest, pk: int, contact_id: uuid.UUID) -> HttpResponse:
    project = _project_editable(request, pk)
    uri = services.project_connection_uri(project=project)
    repository.contact_delete(uri, contact_id=contact_id)
    return _done(request, project, "Contact deleted.")
