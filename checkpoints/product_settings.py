"""Checkpoints' own settings (engines, jobs, limits), all from the environment; Django's
are in settings.py, which imports these."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CHECKPOINTS_DATA_DIR", BASE_DIR / ".data"))

# Engines ------------------------------------------------------------------------------
CHECKPOINTS_ENGINE = os.environ.get("CHECKPOINTS_ENGINE", "local")
#: What the project page's App and schema tabs show: a plug-in function of the versioned
#: app (see checkpoints/views/app_panel.py), so the core never imports the app.
CHECKPOINTS_APP_PANEL = "contacts.views.contacts_app_context"


def _default_engine_url() -> str:
    """The engine's own role on the embedded server (`make run` made it), else empty."""
    from checkpoints.servers.pgroles import engine_url

    return engine_url(DATA_DIR / "postgres") or ""


# The local engine's PostgreSQL server (a role that may CREATEDB and CREATEROLE); default:
# the embedded one, as the engine's least-privilege role.
CHECKPOINTS_LOCAL_SERVER_URL = os.environ.get("CHECKPOINTS_LOCAL_SERVER_URL") or (
    _default_engine_url()
)
#: That server's superuser, used only to install the recorder of destructive statements
#: and protected tables in each project database (default: the embedded server's own).
CHECKPOINTS_LOCAL_SUPERUSER_URL = os.environ.get("CHECKPOINTS_LOCAL_SUPERUSER_URL", "")
# Where new projects live (docs/self-hosting.md): `shared` (every team on the one server
# above, as before), `per-team` (each team on its own embedded server: the default of
# `make run`), `external` (teams placed on CHECKPOINTS_EXTERNAL_SERVERS, least loaded first).
# An operator who names a server (CHECKPOINTS_LOCAL_SERVER_URL) keeps `shared` by default.
CHECKPOINTS_SERVERS = os.environ.get("CHECKPOINTS_SERVERS") or (
    "shared" if os.environ.get("CHECKPOINTS_LOCAL_SERVER_URL") else "per-team"
)
#: `external` mode: URLs of roles that may create databases and roles, comma-separated.
CHECKPOINTS_EXTERNAL_SERVERS = [
    url.strip()
    for url in os.environ.get("CHECKPOINTS_EXTERNAL_SERVERS", "").split(",")
    if url.strip()
]
#: The team servers' data folders (`<team id>/postgres` each).
CHECKPOINTS_TEAM_SERVERS_DIR = Path(
    os.environ.get("CHECKPOINTS_TEAM_SERVERS_DIR") or DATA_DIR / "teams"
)
#: Team servers made for throwaway use (tests: no fsync, a port of their own); never in
#: production, so not read from the environment.
CHECKPOINTS_TEAM_SERVERS_FAST = False
#: Fernet keys (comma-separated, newest first) that encrypt connection secrets at rest;
#: empty: one key generated once into DATA_DIR/connection_keys.
CHECKPOINTS_SECRET_KEYS = [
    key.strip() for key in os.environ.get("CHECKPOINTS_SECRET_KEYS", "").split(",") if key.strip()
]
# Local engine: ready copies of the most recent versions, so rolling back to them is a swap.
CHECKPOINTS_WARM_COPIES = int(os.environ.get("CHECKPOINTS_WARM_COPIES", "2"))
# Local engine's cold tier: the newest N versions per project stay hot (plus pinned and
# current ones); older ones are archived under DATA_DIR/cold (off on reflink file systems).
CHECKPOINTS_HOT_VERSIONS = int(os.environ.get("CHECKPOINTS_HOT_VERSIONS", "5"))
# Per-project limits on each project's role (local engine), so one cannot take the server.
CHECKPOINTS_ROLE_CONNECTION_LIMIT = int(os.environ.get("CHECKPOINTS_ROLE_CONNECTION_LIMIT", "20"))
CHECKPOINTS_ROLE_STATEMENT_TIMEOUT = os.environ.get("CHECKPOINTS_ROLE_STATEMENT_TIMEOUT", "5min")
CHECKPOINTS_ROLE_IDLE_IN_TRANSACTION_TIMEOUT = os.environ.get(
    "CHECKPOINTS_ROLE_IDLE_IN_TRANSACTION_TIMEOUT", "1min"
)
# The local engine's own sessions wait this long for a lock and run a statement at most
# this long (a cold version's load); PostgreSQL setting syntax.
CHECKPOINTS_ENGINE_LOCK_TIMEOUT = os.environ.get("CHECKPOINTS_ENGINE_LOCK_TIMEOUT", "5s")
CHECKPOINTS_ENGINE_STATEMENT_TIMEOUT = os.environ.get(
    "CHECKPOINTS_ENGINE_STATEMENT_TIMEOUT", "15min"
)
# What one project may take of the shared server (local engine; the worker's watchdog looks
# every CHECKPOINTS_WATCHDOG_SECONDS): a project role holding more advisory locks than this
# has its sessions ended (0: off); a live database past this many MB turns read-only (0: off).
CHECKPOINTS_ROLE_ADVISORY_LOCKS = int(os.environ.get("CHECKPOINTS_ROLE_ADVISORY_LOCKS", "1000"))
CHECKPOINTS_PROJECT_DISK_QUOTA_MB = float(
    os.environ.get("CHECKPOINTS_PROJECT_DISK_QUOTA_MB", "10240")
)
# A project role's session past this many seconds of CPU runs at the lowest priority (0: off).
CHECKPOINTS_ROLE_CPU_SECONDS = float(os.environ.get("CHECKPOINTS_ROLE_CPU_SECONDS", "3"))
CHECKPOINTS_WATCHDOG_SECONDS = float(os.environ.get("CHECKPOINTS_WATCHDOG_SECONDS", "2"))
NEON_API_KEY = os.environ.get("NEON_API_KEY", "")
NEON_API_URL = os.environ.get("NEON_API_URL", "https://console.neon.tech/api/v2")
NEON_ORG_ID = os.environ.get("NEON_ORG_ID", "")
#: Manual snapshots your Neon plan allows per project (Free 1, paid 100 in 2026); 0: unknown.
NEON_SNAPSHOT_LIMIT = int(os.environ.get("NEON_SNAPSHOT_LIMIT", "100") or 0)
#: Every team may put projects on the installation's NEON_API_KEY (a connection of its own).
NEON_KEY_FOR_TEAMS = os.environ.get("NEON_KEY_FOR_TEAMS", "") in ("1", "true", "yes")
# Local engine's cold tier: where its archives go (outside PostgreSQL's data folder).
CHECKPOINTS_COLD_DIR = Path(os.environ.get("CHECKPOINTS_COLD_DIR") or DATA_DIR / "cold")
# Previews are deleted this many minutes after they were opened.
CHECKPOINTS_PREVIEW_TTL_MINUTES = int(os.environ.get("CHECKPOINTS_PREVIEW_TTL_MINUTES", "60"))
# How long an MCP tool waits for its job before answering with the job id to poll.
CHECKPOINTS_MCP_WAIT_SECONDS = float(os.environ.get("CHECKPOINTS_MCP_WAIT_SECONDS", "25"))

# Jobs ----------------------------------------------------------------------------------
# Seconds one statement of an agent's version SQL may run before it is cancelled.
CHECKPOINTS_STATEMENT_TIMEOUT = float(os.environ.get("CHECKPOINTS_STATEMENT_TIMEOUT", "60"))
# At most this many workers run one team's jobs at once (fewer than the workers), so one
# team's flood of slow jobs queues behind itself; default: all workers but one.
CHECKPOINTS_WORKERS_PER_TEAM = int(
    os.environ.get("CHECKPOINTS_WORKERS_PER_TEAM")
    or max(1, int(os.environ.get("CHECKPOINTS_WORKERS", "2")) - 1)
)
# `?wait=true` holds a web thread at most this long, then answers 202 + Location.
CHECKPOINTS_API_WAIT_SECONDS = float(os.environ.get("CHECKPOINTS_API_WAIT_SECONDS", "15"))
# How many waits (API `?wait=true`, or progress panels) one token or user holds at once;
# more answer at once (202 + Location, or a panel that polls).
CHECKPOINTS_WAITS_PER_OWNER = int(os.environ.get("CHECKPOINTS_WAITS_PER_OWNER", "2"))
# The progress panel's request waits this long for the job to change before answering.
CHECKPOINTS_STATUS_WAIT_SECONDS = float(os.environ.get("CHECKPOINTS_STATUS_WAIT_SECONDS", "2"))
# A button's answer waits this long for the job it started: one that ends within it (a warm
# rollback: about 0.15 s) is answered with its result, no progress panel and no status
# request; a longer one with the progress panel at that moment. 0: never wait.
CHECKPOINTS_ACTION_WAIT_SECONDS = float(os.environ.get("CHECKPOINTS_ACTION_WAIT_SECONDS", "0.5"))
# Share links: requests per link and minute (per web process: local-memory cache).
CHECKPOINTS_SHARE_RATE_PER_MINUTE = int(os.environ.get("CHECKPOINTS_SHARE_RATE_PER_MINUTE", "120"))
# Webhooks: seconds one delivery may take; the first retry's delay (then ×5 per attempt).
CHECKPOINTS_WEBHOOK_TIMEOUT_SECONDS = float(
    os.environ.get("CHECKPOINTS_WEBHOOK_TIMEOUT_SECONDS", "5")
)
CHECKPOINTS_WEBHOOK_RETRY_SECONDS = float(os.environ.get("CHECKPOINTS_WEBHOOK_RETRY_SECONDS", "5"))

# Lifecycle ------------------------------------------------------------------------------
# The periodic cleanup re-enqueues itself this many minutes later; 0: off.
CHECKPOINTS_CLEANUP_INTERVAL_MINUTES = int(
    os.environ.get("CHECKPOINTS_CLEANUP_INTERVAL_MINUTES", "60")
)
# Leave a verified rollback's `(old)` branch for cleanup instead of deleting it at once.
CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH = os.environ.get(
    "CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH", "false"
).strip().lower() in {"1", "true", "yes", "on"}
# Tables up to this size get a checksum in a version's manifest; bigger ones count and size.
CHECKPOINTS_MANIFEST_HASH_MAX_BYTES = int(
    os.environ.get("CHECKPOINTS_MANIFEST_HASH_MAX_BYTES", str(8 * 1024 * 1024))
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "server": {"format": "[%(asctime)s] %(message)s"},
    },
    # Share-link tokens are secrets in URL paths: redacted from every record.
    "filters": {"redact_share_tokens": {"()": "checkpoints.security.logredact.RedactFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_share_tokens"],
        },
        "server": {
            "class": "logging.StreamHandler",
            "formatter": "server",
            "filters": ["redact_share_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("CHECKPOINTS_LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Django's own default handlers (console under DEBUG, mail_admins) do not redact.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # runserver's request lines (its default handler has no filter).
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
    },
}

# SQL reads (run_sql, describe_schema) ------------------------------------------------------
#: Caps of one read: rows answered, bytes of the answer, seconds of the statement.
CHECKPOINTS_SQL_MAX_ROWS = int(os.environ.get("CHECKPOINTS_SQL_MAX_ROWS", "1000"))
CHECKPOINTS_SQL_MAX_BYTES = int(os.environ.get("CHECKPOINTS_SQL_MAX_BYTES", "1000000"))
CHECKPOINTS_SQL_TIMEOUT_SECONDS = float(os.environ.get("CHECKPOINTS_SQL_TIMEOUT_SECONDS", "10"))
#: A version's read copy is dropped this long after its last read.
CHECKPOINTS_SQL_COPY_TTL_SECONDS = float(os.environ.get("CHECKPOINTS_SQL_COPY_TTL_SECONDS", "600"))
#: A prepared migration's copy is kept this long for its apply or discard (then cleaned up).
CHECKPOINTS_MIGRATION_COPY_TTL_HOURS = float(
    os.environ.get("CHECKPOINTS_MIGRATION_COPY_TTL_HOURS", "24")
)
