"""The job runners: one module per job kind, each registered by `@runner(Job.Kind.…)`.

`run` claims a job and runs its kind's runner step by step (the steps the progress panel
shows); `checks`, `branches`, `snapshot`, `sql`, `room` and `undo` are the mechanisms the
runners share. Importing this package registers every runner (done by the app's
`ready()`), so the queue (`checkpoints.tasks`) can run any job without importing upward.
"""

from checkpoints.jobs import (  # noqa: F401 (each module registers its runners)
    adopt,
    cleanup,
    db_import,
    history,
    migration,
    preview,
    project,
    project_move,
    restore_before_event,
    rollback,
    run,
    share,
    table_restore,
    tier_move,
    version,
    version_delete,
)
