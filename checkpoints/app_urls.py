"""URLs of the versioning app (included from checkpoints/urls.py)."""

from django.urls import include, path

from checkpoints import lifecycle_views, team_views, views

V = "projects/<int:pk>/versions/<int:number>"
lifecycle_urls = [
    path(f"{V}/rename", lifecycle_views.version_rename, name="version-rename"),
    path(f"{V}/delete", lifecycle_views.version_delete, name="version-delete"),
    path(
        "projects/<int:pk>/versions/as-of",
        lifecycle_views.version_create_as_of,
        name="version-create-as-of",
    ),
    path("projects/<int:pk>/diff", lifecycle_views.version_diff, name="version-diff"),
    path(
        "projects/<int:pk>/restore-window",
        lifecycle_views.restore_window,
        name="project-restore-window",
    ),
    path("projects/<int:pk>/holdings", lifecycle_views.project_holdings, name="project-holdings"),
    path("projects/<int:pk>/cleanup", lifecycle_views.project_cleanup, name="project-cleanup"),
]

urlpatterns = [
    path("teams/", team_views.team_list, name="team-list"),
    path("teams/switch", team_views.team_switch, name="team-switch"),
    path(
        "teams/invitations/<int:invitation_pk>/accept",
        team_views.invitation_answer,
        {"answer": "accept"},
        name="invitation-accept",
    ),
    path(
        "teams/invitations/<int:invitation_pk>/decline",
        team_views.invitation_answer,
        {"answer": "decline"},
        name="invitation-decline",
    ),
    path("teams/<int:pk>/", team_views.team_detail, name="team-detail"),
    path("teams/<int:pk>/members", team_views.member_add, name="member-add"),
    path("teams/<int:pk>/members/<int:member_pk>/role", team_views.member_role, name="member-role"),
    path(
        "teams/<int:pk>/members/<int:member_pk>/remove",
        team_views.member_remove,
        name="member-remove",
    ),
    path("projects/<int:pk>/activity", views.project_activity, name="project-activity"),
    path("projects/start", views.project_start_demo, name="project-start-demo"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("projects/<int:pk>/start-over", views.project_start_over, name="project-start-over"),
    path(
        "projects/<int:pk>/rotate-password",
        views.project_password_rotate,
        name="project-password-rotate",
    ),
    path("projects/<int:pk>/versions/next", views.version_create_next, name="version-create-next"),
    path(
        "projects/<int:pk>/versions/<int:number>/rollback",
        views.version_rollback,
        name="version-rollback",
    ),
    path(
        "projects/<int:pk>/versions/<int:number>/preview",
        views.version_preview,
        name="version-preview",
    ),
    path(
        "projects/<int:pk>/previews/<int:preview_pk>/",
        views.preview_detail,
        name="preview-detail",
    ),
    path(
        "projects/<int:pk>/previews/<int:preview_pk>/discard",
        views.preview_discard,
        name="preview-discard",
    ),
    path("projects/<int:pk>/jobs/<int:job_pk>/status", views.job_status, name="job-status"),
    path("projects/<int:pk>/jobs/<int:job_pk>/cancel", views.job_cancel, name="job-cancel"),
    path("projects/<int:pk>/contacts/", include("contacts.urls")),
    *lifecycle_urls,
]
