"""Metadata models: who owns which agent project, its versions, previews, jobs and activity.

They live in the metadata database, never in a versioned database, so the audit trail
survives every restore. The connection strings of the active branch and of live previews
are stored here (`connection_uri`, with their password) by the jobs that make or change
them, so no page asks the engine for one (`connections.connections_refresh` re-reads them);
they are never rendered unmasked.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Team(models.Model):
    name = models.CharField(max_length=200)
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_team",
        help_text="Set on the team created for a user at sign-up.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        OPERATOR = "operator", "Operator"
        OWNER = "owner", "Owner"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OWNER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """An owner asked a user to join a team; the user accepts (becoming a member with
    `role`) or declines on their own Teams page. Answered invitations are deleted."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="invitation_unique_team_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} invited to {self.team} ({self.role})"


class EngineConnection(models.Model):
    """Where a team's projects live: its own embedded server, a PostgreSQL server (the URL
    of a role that may create databases and roles), or a Neon account.

    The URL or API key is kept only encrypted (`secret`, checkpoints/security/secretbox.py) and
    handed only to the engine; `server` is what may be shown (host:port, the API URL).
    Projects without a connection live on the installation's own engine (`shared`)."""

    class Kind(models.TextChoices):
        EMBEDDED = "embedded", "This team's embedded server"
        POSTGRES = "postgres", "A PostgreSQL server"
        NEON = "neon", "A Neon account"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="connections")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200)
    #: Shown in pages and answers, never a secret: host:port, or the Neon API URL.
    server = models.CharField(max_length=300, blank=True)
    #: The URL (postgres) or API key (neon), encrypted; empty for embedded.
    secret = models.TextField(blank=True)
    #: Not secret: Neon's org id and API URL; `pinned` when an admin chose the server.
    options = models.JSONField(default=dict, blank=True)
    #: Where the team's new projects go unless they choose.
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=Q(is_default=True), name="connection_one_default"
            )
        ]

    def __str__(self) -> str:
        return self.name


class AgentProject(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="projects")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=200)
    engine_name = models.CharField(max_length=20)
    #: Where it lives; empty: on the installation's own engine (`engine_name`).
    connection = models.ForeignKey(
        EngineConnection,
        null=True,
        blank=True,
        # RESTRICT, not PROTECT: a connection with projects cannot go on its own, but a
        # deleted team takes its projects and its connections together.
        on_delete=models.RESTRICT,
        related_name="projects",
    )
    engine_project_id = models.CharField(max_length=100, blank=True)
    active_branch_id = models.CharField(max_length=100, blank=True)
    endpoint_id = models.CharField(max_length=100, blank=True)
    current_version = models.ForeignKey(
        "Version", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class RestoreWindow(models.TextChoices):
        FOREVER = "forever", "Keep every version"
        DAYS = "days", "Keep versions for N days"
        VERSIONS = "versions", "Keep the last N versions"

    # What cleanup may remove (see checkpoints/lifecycle/): the default expiry of new
    # versions, recomputed for live versions when it changes.
    restore_window = models.CharField(
        max_length=20, choices=RestoreWindow.choices, default=RestoreWindow.FOREVER
    )
    restore_window_count = models.PositiveIntegerField(default=7)
    #: The history window: how far back a version can be saved as of any moment (hours),
    #: and the WAL and base-backup storage it may take on its server (MB; None: no bound).
    history_hours = models.PositiveIntegerField(default=24)
    history_budget_mb = models.PositiveIntegerField(null=True, blank=True)
    #: The active branch's connection string (with its password): stored by the jobs that
    #: create or change it; pages read it from here, never from the engine.
    connection_uri = models.TextField(blank=True)
    #: What the engine held at the end of the last job (branches, snapshots, warm copies,
    #: snapshot capacity): the holdings card and the capacity shown read this.
    engine_listing = models.JSONField(null=True, blank=True)
    engine_listed_at = models.DateTimeField(null=True, blank=True)
    #: A project Checkpoints adopted (services/neon_adopt.py): the branches and snapshots
    #: it held then, which Checkpoints never deletes; None for a project Checkpoints made.
    adopted = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Version(models.Model):
    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    prompt = models.TextField(blank=True)
    snapshot_id = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    #: Why it was deleted when not by hand, e.g. "cleanup: expired" (deleted_by is then empty).
    deleted_reason = models.CharField(max_length=200, blank=True)
    #: Tables, columns, row counts and checksums at this version (checkpoints/manifest.py).
    manifest = models.JSONField(null=True, blank=True)
    #: Saved by Checkpoints itself (the live state kept before a rollback or a table restore),
    #: not by a step of the agent: shown apart and never part of the demo script.
    automatic = models.BooleanField(default=False)

    class Tier(models.TextChoices):
        HOT = "hot", "Hot"
        COLD = "cold", "Cold"

    #: Where the engine keeps the snapshot: hot (a template database) or cold (an archive).
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.HOT)
    #: Kept hot whatever the tier policy says.
    pinned = models.BooleanField(default=False)
    #: Bytes the snapshot takes in its tier, recorded when saved or moved (never per view).
    size_bytes = models.BigIntegerField(null=True, blank=True)
    #: The caller's own key/value labels set at save (`git_sha`, `agent_run`…;
    #: checkpoints/rules/version_labels.py checks them): shown and filterable, never interpreted.
    labels = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            # Deleted versions stay for the audit trail; "Start over" numbers from v0 again.
            models.UniqueConstraint(
                fields=["project", "number"],
                condition=Q(deleted_at__isnull=True),
                name="version_unique_live_number",
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"v{self.number}"


class Preview(models.Model):
    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="previews")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="previews")
    branch_id = models.CharField(max_length=100)
    endpoint_id = models.CharField(max_length=100, blank=True)
    #: The preview branch's own connection string, stored when the preview opened.
    connection_uri = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    discarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"preview of {self.version.label}"

    @property
    def is_live(self) -> bool:
        return self.discarded_at is None and self.expires_at > timezone.now()


class Job(models.Model):
    """One piece of long work on a project, run by the worker; the UI polls this row."""

    class Kind(models.TextChoices):
        CREATE_VERSION = "create_version", "Create version"
        ROLLBACK = "rollback", "Roll back"
        PREVIEW_OPEN = "preview_open", "Open preview"
        PREVIEW_DISCARD = "preview_discard", "Discard preview"
        START_DEMO = "start_demo", "Start demo"
        START_OVER = "start_over", "Start over"
        CREATE_PROJECT = "create_project", "Create project"
        VERSION_DELETE = "version_delete", "Delete version"
        CLEANUP = "cleanup", "Clean up"
        SHARE_OPEN = "share_open", "Open share link"
        TABLE_RESTORE = "table_restore", "Restore tables"
        TIER_MOVE = "tier_move", "Move between tiers"
        MIGRATION_PREPARE = "migration_prepare", "Try a migration on a copy"
        MIGRATION_APPLY = "migration_apply", "Apply a migration"
        PROJECT_MOVE = "project_move", "Move to another connection"
        ADOPT_PROJECT = "adopt_project", "Adopt a Neon project"
        IMPORT_DATABASE = "import_database", "Import a database"
        RESTORE_BEFORE_EVENT = "restore_before_event", "Go back to just before a statement"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    UNFINISHED = (State.QUEUED, State.RUNNING)
    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    steps = models.JSONField(default=list, blank=True)
    result = models.JSONField(
        default=dict, blank=True, help_text="Ids the job learnt (new branch, orphan…)."
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    target_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    preview = models.ForeignKey(
        Preview, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True)
    #: An operator asked to cancel the running job; the worker honours it at a safe point.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The authoritative "busy" guard: one queued or running job per project.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["queued", "running"]),
                name="job_one_unfinished_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def step_rows(self) -> list[dict]:
        """Steps with their duration in ms, for display."""
        rows = []
        for step in self.steps:
            row = dict(step)
            start, end = step.get("started_at"), step.get("finished_at")
            if start and end:
                delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
                row["duration_ms"] = int(delta.total_seconds() * 1000)
            rows.append(row)
        return rows

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class Activity(models.Model):
    class Kind(models.TextChoices):
        START = "start", "Start"
        CREATE = "create", "Create version"
        ROLLBACK = "rollback", "Roll back"
        PREVIEW = "preview", "Preview"
        DISCARD = "discard", "Discard preview"
        EXPIRE = "expire", "Preview expired"
        DELETE = "delete", "Delete"
        START_OVER = "start_over", "Start over"
        FAILED = "failed", "Failed"
        CLEANUP = "cleanup", "Clean up"
        SHARE = "share", "Share link created"
        UNSHARE = "unshare", "Share link revoked"
        SHARE_OPEN = "share_open", "Share link opened"
        REPAIR = "repair", "Role repaired"
        ROTATE = "rotate", "Password rotated"
        UNDO = "undo", "Rollback undone"
        TABLE_RESTORE = "table_restore", "Tables restored"
        PIN = "pin", "Pinned"
        UNPIN = "unpin", "Unpinned"
        SESSIONS_END = "sessions_end", "Sessions ended"
        LIMIT = "limit", "Limit reached"
        MOVE = "move", "Moved to another connection"
        PROTECT = "protect", "Table protected"
        UNPROTECT = "unprotect", "Protection lifted"

    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation_ids = models.JSONField(default=list, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class ShareLink(models.Model):
    """A read-only link `/s/<token>` to one version's app, for people without an account.

    Only the token's sha256 is kept: the link is shown once, when it is made. Its view is
    served from a preview branch (`preview`) made on first open, which expires with the
    link (checkpoints/services/sharing.py)."""

    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="shares")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="shares")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    preview = models.ForeignKey(
        Preview, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    open_count = models.PositiveIntegerField(default=0)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"share link #{self.pk} of {self.version.label}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class SqlCopy(models.Model):
    """A read-only copy of a version that `run_sql` / `describe_schema` with `version=N`
    read: opened on demand, reused until `expires_at` (pushed on by each read), then
    dropped (checkpoints/services/sql_tools.py). Only the engine's reader reaches it."""

    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="sql_copies")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+")
    branch_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"read copy of {self.version.label}"


class MigrationTrial(models.Model):
    """SQL tried on a fresh copy of the live database (`prepare_migration`), then applied
    to live as one new version or discarded (checkpoints/services/migrations.py)."""

    class State(models.TextChoices):
        PREPARING = "preparing", "Preparing"
        PREPARED = "prepared", "Prepared"
        FAILED = "failed", "Failed on the copy"
        APPLIED = "applied", "Applied"
        DISCARDED = "discarded", "Discarded"

    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="migrations")
    sql = models.TextField()
    prompt = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PREPARING)
    #: The copy's branch (deleted once applied or discarded).
    branch_id = models.CharField(max_length=100, blank=True)
    #: The manifest of the copy before the SQL: what live must still be for an apply.
    base_manifest = models.JSONField(null=True, blank=True)
    #: The current version when the copy was taken.
    base_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(null=True, blank=True)
    summary = models.TextField(blank=True)
    error = models.TextField(blank=True)
    version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    prepared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"migration #{self.pk} ({self.state})"


class IdempotencyRecord(models.Model):
    """A write asked with an `Idempotency-Key` (API header, MCP argument): the first one
    inserts this row (the unique constraint decides who runs), does the work and stores its
    answer; a retry with the same key answers the stored answer (services/idempotency.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    #: sha256 of what was asked (method, path, body / tool, arguments): a key reused for
    #: another request is refused.
    fingerprint = models.CharField(max_length=64)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.key!r} of {self.user_id}"


class WebhookEndpoint(models.Model):
    """Where a team's events are POSTed, signed as Standard Webhooks (`whsec_` secrets).

    After a rotation the previous secret also signs until `previous_secret_until`, so a
    receiver can switch without losing events."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: attempted by the `webhooks` queue's worker, retried
    with exponential backoff until acknowledged (2xx) or out of attempts."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.state})"


class StatementEvent(models.Model):
    """A destructive statement PostgreSQL recorded in the project's live database (DROP
    TABLE, DROP SCHEMA, ALTER TABLE … DROP COLUMN, TRUNCATE…), copied here from the engine
    (`services.events`): when, by which database role, in which transaction."""

    project = models.ForeignKey(AgentProject, on_delete=models.CASCADE, related_name="events")
    key = models.UUIDField(help_text="The engine's id of the record.")
    at = models.DateTimeField()
    role = models.CharField(max_length=100)
    xid = models.BigIntegerField(help_text="Transaction id (64-bit, with its epoch).")
    lsn = models.CharField(max_length=40, blank=True)
    command = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object = models.TextField()

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="statement_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.label} at {self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def label(self) -> str:
        """`DROP TABLE contacts`, `DROP COLUMN contacts.email`, `TRUNCATE app.items`."""
        name = self.object.removeprefix("public.")
        if self.object_type == "table column":
            return f"DROP COLUMN {name}"
        if self.command == "DROP OWNED":
            return f"DROP OWNED ({self.object_type} {name})"
        return f"{self.command} {name}"
