"""The app panel of the project and preview pages, supplied by a plug-in.

The versioned app (the contact book) depends on `checkpoints`, never the other way
round, so the core finds what its App and schema tabs show through a setting:
`CHECKPOINTS_APP_PANEL`, the dotted path of a function called with keyword arguments
`project`, and `preview` / `schema_only` / `can_edit` / `page` as a tab needs, that
returns the context of the app's templates (`contacts/_contacts_app.html`,
`contacts/_schema.html`: `{"app": {...}}`). Without the setting the panels say the app
is not there.

The plug-in's reads of the app database run under a short lock and statement timeout
(`PANEL_BOUNDS`, `engines.connect.bounded_reads`): a web thread never waits behind the
agent's lock (an open `LOCK TABLE contacts`), the plug-in says what holds it instead
(`locked_read_message`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from checkpoints.engines.connect import bounded_reads
from checkpoints.jobs.locked import is_lock_wait, lock_holders
from checkpoints.queue import job_watchdog

SETTING = "CHECKPOINTS_APP_PANEL"
#: What a page's read of the app database may wait for (a lock) and take in all.
PANEL_BOUNDS = {"lock_timeout": "1s", "statement_timeout": "15s"}
LOCKED_READ = (
    "{holders}. The app shows its data again once that session commits or ends; an "
    "operator can end the project's sessions (`manage.py end_sessions`)."
)
LOCKED_UNKNOWN = "A table of the app database is locked by another session"


@cache
def _panel(path: str) -> Callable[..., dict[str, Any]]:
    return import_string(path)


def app_panel_context(**kwargs: Any) -> dict[str, Any]:
    """The plug-in's context for the app panel, or `{}` when none is configured."""
    path = settings.CHECKPOINTS_APP_PANEL
    if not path:
        return {}
    with bounded_reads(**PANEL_BOUNDS):
        return _panel(path)(**kwargs)


def locked_read_message(exc: BaseException, uri: str) -> str | None:
    """For the plug-in: what to show when its read gave up behind a lock ("`contacts` is
    locked by a session of this project since 10:32:05 …") or met a full lock table;
    None for any other error."""
    if full := job_watchdog.lock_table_full(exc):
        return full
    if not is_lock_wait(exc):
        return None
    try:
        holders = "; ".join(lock_holders(uri)) or LOCKED_UNKNOWN
    except Exception:  # the reason is a courtesy: the lock itself is the news
        holders = LOCKED_UNKNOWN
    return LOCKED_READ.format(holders=holders)
