from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path

from checkpoints.mcp import http as mcp_http
from checkpoints.views import projects


@login_not_required
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


# Refused actions (permissions.require -> NotAllowed) answer a readable 403.
handler403 = "checkpoints.views.responses.forbidden"

urlpatterns = [
    path("", projects.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("mcp", mcp_http.endpoint, name="mcp"),
    path("admin/", admin.site.urls),
    path("accounts/", include("checkpoints.accounts")),
    path("", include("checkpoints.app_urls")),
    path("", include("checkpoints.share_urls")),
    # The versioned app (contacts depends on checkpoints, never the reverse): its pages
    # under a project, and the public share view. Included by name, not imported.
    path("projects/<int:pk>/contacts/", include("contacts.urls")),
    path("", include("contacts.share_urls")),
    path("", include("checkpoints.api.urls")),
]
