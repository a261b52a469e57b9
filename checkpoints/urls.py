from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path

from checkpoints import views
from checkpoints.mcp import http as mcp_http


@login_not_required
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


# Refused actions (permissions.require -> NotAllowed) answer a readable 403.
handler403 = "checkpoints.team_views.forbidden"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("mcp", mcp_http.endpoint, name="mcp"),
    path("admin/", admin.site.urls),
    path("accounts/", include("checkpoints.accounts")),
    path("", include("checkpoints.app_urls")),
    path("", include("checkpoints.share_urls")),
    path("", include("checkpoints.api.urls")),
]
