"""URLs of the versioning app (included from checkpoints/urls.py). The contact book's
own URLs (`contacts.urls`) are included by the root URLconf."""

from django.urls import path

from checkpoints.views import (
    activity,
    connections,
    events,
    jobs,
    neon,
    page,
    previews,
    project_move,
    projects,
    tables,
    teams,
    versions,
    webhooks,
)
from checkpoints.views.lifecycle import cleanup, diff, tiers

P = "projects/<int:pk>"
V = f"{P}/versions/<int:number>"

team_urls = [
    path("teams/", teams.team_list, name="team-list"),
    path("teams/switch", teams.team_switch, name="team-switch"),
    path(
        "teams/invitations/<int:invitation_pk>/accept",
        teams.invitation_answer,
        {"answer": "accept"},
        name="invitation-accept",
    ),
    path(
        "teams/invitations/<int:invitation_pk>/decline",
        teams.invitation_answer,
        {"answer": "decline"},
        name="invitation-decline",
    ),
    path("teams/<int:pk>/", teams.team_detail, name="team-detail"),
    path("teams/<int:pk>/webhooks", webhooks.webhook_add, name="webhook-add"),
    path("teams/<int:pk>/webhooks/<int:e>/remove", webhooks.webhook_remove, name="webhook-remove"),
    path("teams/<int:pk>/webhooks/<int:e>/rotate", webhooks.webhook_rotate, name="webhook-rotate"),
    path("teams/<int:pk>/webhooks/<int:e>/test", webhooks.webhook_test, name="webhook-test"),
    path("teams/<int:pk>/members", teams.member_add, name="member-add"),
    path("teams/<int:pk>/connections", connections.connection_add, name="connection-add"),
    path(
        "teams/<int:pk>/connections/<int:c>/remove",
        connections.connection_remove,
        name="connection-remove",
    ),
    path("teams/<int:pk>/neon", neon.neon_account_add, name="neon-account-add"),
    path("teams/<int:pk>/neon/<int:c>/key", neon.neon_account_key, name="neon-account-key"),
    path(
        "teams/<int:pk>/neon/<int:c>/remove", neon.neon_account_remove, name="neon-account-remove"
    ),
    path("teams/<int:pk>/neon/<int:c>/limit", neon.neon_account_limit, name="neon-account-limit"),
    path("teams/<int:pk>/neon/<int:c>/adopt", neon.neon_adopt_page, name="neon-adopt"),
    path("teams/<int:pk>/import", neon.database_import, name="database-import"),
    path("teams/<int:pk>/members/<int:member_pk>/role", teams.member_role, name="member-role"),
    path(
        "teams/<int:pk>/members/<int:member_pk>/remove", teams.member_remove, name="member-remove"
    ),
]

project_urls = [
    path(f"{P}/activity", activity.project_activity, name="project-activity"),
    path(f"{P}/events", events.project_events, name="project-events"),
    path(
        f"{P}/events/<int:event_pk>/restore-before",
        events.event_restore_before,
        name="event-restore-before",
    ),
    path(f"{P}/protected-tables/protect", events.table_protect, name="table-protect"),
    path(f"{P}/protected-tables/lift", events.table_unprotect, name="table-unprotect"),
    path("projects/start", projects.project_start_demo, name="project-start-demo"),
    path(f"{P}/", page.project_detail, name="project-detail"),
    path(
        f"{P}/neon-snapshots/<str:snapshot_id>/import",
        neon.neon_snapshot_import,
        name="neon-snapshot-import",
    ),
    path(f"{P}/start-over", projects.project_start_over, name="project-start-over"),
    path(f"{P}/rotate-password", projects.project_password_rotate, name="project-password-rotate"),
    path(f"{P}/move", project_move.project_move_view, name="project-move"),
    path(f"{P}/end-sessions", projects.project_sessions_end, name="project-sessions-end"),
    path(f"{P}/jobs/<int:job_pk>/status", jobs.job_status, name="job-status"),
    path(f"{P}/jobs/<int:job_pk>/cancel", jobs.job_cancel, name="job-cancel"),
]

version_urls = [
    path(f"{P}/versions/next", versions.version_create_next, name="version-create-next"),
    path(f"{V}/rollback", versions.version_rollback, name="version-rollback"),
    path(f"{V}/pin", tiers.version_pin, name="version-pin"),
    path(f"{V}/unpin", tiers.version_unpin, name="version-unpin"),
    path(f"{V}/restore-tables", tables.version_tables_restore, name="version-tables-restore"),
    path(f"{P}/rollback/undo", versions.rollback_undo, name="rollback-undo"),
    path(f"{V}/rename", versions.version_rename, name="version-rename"),
    path(f"{V}/delete", versions.version_delete, name="version-delete"),
    path(f"{P}/versions/as-of", versions.version_create_as_of, name="version-create-as-of"),
    path(f"{V}/preview", previews.version_preview, name="version-preview"),
    path(f"{P}/previews/<int:preview_pk>/", previews.preview_detail, name="preview-detail"),
    path(
        f"{P}/previews/<int:preview_pk>/discard", previews.preview_discard, name="preview-discard"
    ),
]

lifecycle_urls = [
    path(f"{P}/diff", diff.version_diff, name="version-diff"),
    path(f"{P}/restore-window", cleanup.restore_window, name="project-restore-window"),
    path(f"{P}/history-window", cleanup.history_window, name="project-history-window"),
    path(f"{P}/holdings", cleanup.project_holdings, name="project-holdings"),
    path(f"{P}/cleanup", cleanup.project_cleanup, name="project-cleanup"),
]

urlpatterns = [*team_urls, *project_urls, *version_urls, *lifecycle_urls]
