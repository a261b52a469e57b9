"""The API tokens settings page (HTML, login required): create, list, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from checkpoints.api.models import ApiToken
from checkpoints.rules import selectors
from checkpoints.security.input_guard import int_or_none
from checkpoints.services import ServiceError
from checkpoints.tokens import token_create
from checkpoints.tokens import token_revoke as token_revoke_service

TOKEN_REVOKED = "Token “{name}” revoked: requests with it now answer 401."


@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; a POST creates one and shows it on this response only."""
    context: dict = {"error": "", "name": ""}
    status = 200
    if request.method == "POST":
        name = request.POST.get("name", "")
        chosen = [int_or_none(raw) for raw in request.POST.getlist("projects")[:500]]
        try:
            token, raw = token_create(
                user=request.user,
                name=name,
                read_only=request.POST.get("read_only") == "on",
                can_reveal=request.POST.get("can_reveal") == "on",
                project_ids=[pk if pk is not None else -1 for pk in chosen],
            )
        except ServiceError as error:
            context.update(error=error.message, name=name)
            status = 400
        else:
            context.update(created=token, raw_token=raw)
    context["tokens"] = ApiToken.objects.filter(user=request.user).prefetch_related("projects")
    context["projects"] = selectors.projects_for(request.user).order_by("name", "pk")
    response = render(request, "api/token_list.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the new token must not be kept by a cache
    return response


@require_POST
def token_revoke(request: HttpRequest, token_pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_pk, user=request.user)
    token_revoke_service(token=token)
    messages.success(request, TOKEN_REVOKED.format(name=token.name))
    return redirect("token-list")
