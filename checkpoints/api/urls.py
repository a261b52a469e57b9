"""The API under /api/v1/ and the token settings page (included from checkpoints/urls.py)."""

from __future__ import annotations

from django.urls import path, re_path

from checkpoints.api import (
    events,
    jobs,
    meta,
    moves,
    neon,
    pages,
    previews,
    projects,
    shares,
    sql,
    versions,
)

P = "api/v1/projects/<int:pk>"
T = "api/v1/teams/<int:team_id>"
NA = f"{T}/neon-accounts/<int:account_id>"

urlpatterns = [
    path("settings/tokens/", pages.token_list, name="token-list"),
    path("settings/tokens/<int:token_pk>/revoke", pages.token_revoke, name="token-revoke"),
    path("api/v1/openapi.json", meta.openapi, name="api-openapi"),
    path("api/v1/projects", projects.projects, name="api-projects"),
    path(f"{P}", projects.project_detail, name="api-project"),
    path(f"{P}/connection", projects.project_connection, name="api-project-connection"),
    path(f"{P}/connection/rotate", projects.project_password_rotate, name="api-password-rotate"),
    path(f"{P}/sessions/end", projects.project_sessions_end, name="api-sessions-end"),
    path(f"{P}/move", moves.project_move_api, name="api-project-move"),
    path(f"{P}/versions", versions.versions, name="api-versions"),
    path(f"{P}/versions/<int:number>", versions.version_detail, name="api-version"),
    path(f"{P}/versions/<int:number>/rollback", versions.version_rollback, name="api-rollback"),
    path(
        f"{P}/versions/<int:number>/rollback/plan",
        versions.rollback_plan,
        name="api-rollback-plan",
    ),
    path(f"{P}/versions/<int:number>/pin", versions.version_pin, name="api-version-pin"),
    path(f"{P}/versions/<int:number>/unpin", versions.version_unpin, name="api-version-unpin"),
    path(
        f"{P}/versions/<int:number>/restore-tables",
        versions.version_restore_tables,
        name="api-restore-tables",
    ),
    path(f"{P}/rollback/undo", versions.rollback_undo, name="api-rollback-undo"),
    path(f"{P}/diff", versions.version_diff, name="api-diff"),
    path(f"{P}/previews", previews.previews, name="api-previews"),
    path(f"{P}/previews/<int:preview_pk>", previews.preview_detail, name="api-preview"),
    path(f"{P}/jobs/<int:job_pk>", jobs.job_detail, name="api-job"),
    path(f"{P}/jobs/<int:job_pk>/cancel", jobs.job_cancel, name="api-job-cancel"),
    path(f"{P}/shares", shares.shares, name="api-shares"),
    path(f"{P}/shares/<int:share_pk>", shares.share_detail, name="api-share"),
    path(f"{P}/sql", sql.sql_run, name="api-sql"),
    path(f"{P}/schema", sql.schema, name="api-schema"),
    path(f"{P}/migrations", sql.migrations_create, name="api-migrations"),
    path(f"{P}/migrations/<int:migration_pk>", sql.migration_detail, name="api-migration"),
    path(
        f"{P}/migrations/<int:migration_pk>/apply",
        sql.migration_apply,
        name="api-migration-apply",
    ),
    path(f"{T}/neon-accounts", neon.accounts, name="api-neon-accounts"),
    path(NA, neon.account_detail, name="api-neon-account"),
    path(f"{NA}/projects", neon.adoptable, name="api-neon-adoptable"),
    path(f"{NA}/adopt", neon.adopt, name="api-neon-adopt"),
    path(f"{T}/imports", neon.database_import, name="api-database-import"),
    path(
        f"{P}/neon-snapshots/<str:snapshot_id>/import",
        neon.snapshot_import,
        name="api-neon-snapshot-import",
    ),
    path(f"{P}/events", events.events_list, name="api-events"),
    path(
        f"{P}/events/<int:event_pk>/restore-before",
        events.event_restore_before,
        name="api-event-restore-before",
    ),
    path(f"{P}/protected-tables", events.protected_tables, name="api-protected-tables"),
    path(
        f"{P}/protected-tables/lift",
        events.protected_tables_lift,
        name="api-protected-tables-lift",
    ),
    re_path(r"^api/(?P<rest>[\s\S]*)$", meta.unknown, name="api-unknown"),
]
