"""URLs of share links for members (included from checkpoints/urls.py). The public view
`/s/<token>` is the app's (`contacts.share_urls`)."""

from django.urls import path

from checkpoints.views import share

urlpatterns = [
    path(
        "projects/<int:pk>/versions/<int:number>/share",
        share.version_share,
        name="version-share",
    ),
    path("projects/<int:pk>/shares/", share.project_shares, name="project-shares"),
    path(
        "projects/<int:pk>/shares/<int:share_pk>/revoke",
        share.share_revoke,
        name="share-revoke",
    ),
]
