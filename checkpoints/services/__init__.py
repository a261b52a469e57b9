"""Use cases. Views, the API, the MCP server and the commands call these; these check the
role, validate, record metadata and enqueue the long work as jobs.

Every action that talks to an engine runs in the background as a `Job`: the service
enqueues it (`tasks.job_enqueue`), the worker runs the runner of its kind
(`checkpoints.jobs.<kind>`). The partial unique index on `Job` allows one unfinished job
per project, which is what makes a second click, a second tab or a second user answer
"busy" (`ProjectBusy`).

The use cases live in `services.projects`, `.versions`, `.previews`, `.jobs`,
`.lifecycle`, `.teams` and `.sharing`; the public ones are re-exported here, so
`from checkpoints import services; services.version_rollback(...)` reads as before. The
engine lookup and connection strings are `checkpoints.connections` (patch
`connections.engine_for` in tests), the refusals `checkpoints.errors`.
"""

from checkpoints import connections
from checkpoints.activity import activity_record
from checkpoints.connections import (
    connections_refresh,
    engine_default_name,
    preview_connection_uri,
    project_connection_uri,
)
from checkpoints.engines.base import Engine
from checkpoints.errors import (
    JOB_CANCELLED,
    JOB_NOT_RUNNING,
    NAME_REQUIRED,
    NAME_TAKEN,
    NO_NEXT_VERSION,
    NOT_STARTED,
    PREVIEW_GONE,
    PROJECT_BUSY,
    PROMPT_REQUIRED,
    SNAPSHOT_LIMIT,
    VERSION_DELETED,
    VERSION_EXPIRED,
    JobNotRunning,
    NameTaken,
    NotAllowed,
    ProjectBusy,
    ServiceError,
    SnapshotLimitReached,
)
from checkpoints.models import AgentProject
from checkpoints.queue.job_reaper import (
    JOB_NEVER_STARTED,
    JOB_STALE,
    QUEUED_TIMEOUT,
    STALE_AFTER,
    jobs_fail_stale,
)
from checkpoints.rules.selectors import job_active, previews_expired
from checkpoints.rules.version_rules import (
    preview_ttl,
    snapshot_room_check,
    sql_split,
    version_default_name,
    version_next_number,
    version_number_after,
)
from checkpoints.services.jobs import job_cancel
from checkpoints.services.previews import preview_discard, preview_open
from checkpoints.services.projects import (
    project_create,
    project_delete,
    project_password_rotate,
    project_start_demo,
    project_start_over,
)
from checkpoints.services.sessions import project_sessions_end
from checkpoints.services.tables import version_table_keys, version_tables_restore
from checkpoints.services.tiers import version_pin, version_unpin
from checkpoints.services.undo import rollback_to_undo, rollback_undo, undo_version
from checkpoints.services.versions import (
    version_create,
    version_create_next,
    version_delete,
    version_rename,
    version_rollback,
)
from checkpoints.signals import team_personal_for

__all__ = [
    "version_pin",
    "version_unpin",
    "rollback_to_undo",
    "rollback_undo",
    "undo_version",
    "JOB_CANCELLED",
    "JOB_NEVER_STARTED",
    "JOB_NOT_RUNNING",
    "JOB_STALE",
    "NAME_REQUIRED",
    "NAME_TAKEN",
    "NOT_STARTED",
    "NO_NEXT_VERSION",
    "PREVIEW_GONE",
    "PROJECT_BUSY",
    "PROMPT_REQUIRED",
    "QUEUED_TIMEOUT",
    "SNAPSHOT_LIMIT",
    "STALE_AFTER",
    "VERSION_DELETED",
    "VERSION_EXPIRED",
    "JobNotRunning",
    "NameTaken",
    "NotAllowed",
    "ProjectBusy",
    "ServiceError",
    "SnapshotLimitReached",
    "activity_record",
    "connections_refresh",
    "engine_default_name",
    "engine_for",
    "job_active",
    "job_cancel",
    "jobs_fail_stale",
    "preview_connection_uri",
    "preview_discard",
    "preview_open",
    "preview_ttl",
    "previews_expired",
    "project_connection_uri",
    "project_create",
    "project_delete",
    "project_password_rotate",
    "project_sessions_end",
    "project_start_demo",
    "project_start_over",
    "snapshot_room_check",
    "sql_split",
    "team_personal_for",
    "version_create",
    "version_create_next",
    "version_default_name",
    "version_delete",
    "version_next_number",
    "version_number_after",
    "version_rename",
    "version_rollback",
    "version_table_keys",
    "version_tables_restore",
]


def engine_for(*, project: AgentProject) -> Engine:
    """`connections.engine_for`, looked up at each call (so a test's patch of it holds)."""
    return connections.engine_for(project=project)
