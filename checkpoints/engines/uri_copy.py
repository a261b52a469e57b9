"""A database copied from one connection string to another, whatever engine serves either:
`pg_dump -Fc | pg_restore` streamed (nothing on disk), each end logged in as the role of
its connection string. A project move copies each version and the live state this way.

Both ends are the agent's own roles: the dump reads what the agent may read, and the
load runs the agent's code (CHECK constraints, index expressions) as the agent at most.
`--no-owner --no-acl`: everything loaded is owned by the destination's role. The
passwords go through the environment, never a command line, and errors are masked.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from .errors import EngineError
from .local.archive import default_bin_dir
from .types import mask_password

COPY_FAILED = "copying the database failed: {why}"


class CopyFailed(EngineError):
    """The dump or the load refused (an object the destination's role may not make,
    a row-security policy, the destination out of room)."""


def _env(uri: str) -> dict[str, str]:
    params = conninfo_to_dict(uri)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"}
    names |= {"password": "PGPASSWORD", "sslmode": "PGSSLMODE", "options": "PGOPTIONS"}
    env.update({var: str(params[key]) for key, var in names.items() if params.get(key)})
    env["PGAPPNAME"] = f"checkpoints-move:{os.getpid()}"
    return env


def database_copy(source_uri: str, target_uri: str, *, bin_dir: Path | None = None) -> None:
    """Load everything of the database at `source_uri` into the (empty) one at
    `target_uri`; CopyFailed with the tool's last words (passwords masked)."""
    bins = bin_dir or default_bin_dir()
    if bins is None:
        raise CopyFailed(COPY_FAILED.format(why="no pg_dump/pg_restore"))
    dump = subprocess.Popen(
        [str(bins / "pg_dump"), "-Fc", "--compress=none", "--no-owner", "--no-acl"],
        env=_env(source_uri),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert dump.stdout is not None
    target_db = str(conninfo_to_dict(target_uri).get("dbname") or "postgres")
    load = subprocess.run(
        [str(bins / "pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "-d", target_db],
        env=_env(target_uri),
        stdin=dump.stdout,
        capture_output=True,
        check=False,
    )
    dump.stdout.close()
    dump_err = dump.stderr.read() if dump.stderr else b""
    if dump.wait() != 0 or load.returncode != 0:
        why = (dump_err or load.stderr).decode(errors="replace").strip()[-500:]
        raise CopyFailed(COPY_FAILED.format(why=mask_password(why) or "no message"))
