"""URLs of share links (included from checkpoints/urls.py): members' pages, then the
public view."""

from django.urls import path

from checkpoints import share_views

urlpatterns = [
    path(
        "projects/<int:pk>/versions/<int:number>/share",
        share_views.version_share,
        name="version-share",
    ),
    path("projects/<int:pk>/shares/", share_views.project_shares, name="project-shares"),
    path(
        "projects/<int:pk>/shares/<int:share_pk>/revoke",
        share_views.share_revoke,
        name="share-revoke",
    ),
    # Any text after /s/ reaches the view, which answers a plain 404 for a bad token.
    path("s/<str:token>", share_views.shared_view, name="share-view"),
]
