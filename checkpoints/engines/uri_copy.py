"""A database copied from one connection string to another, whatever engine serves either:
`pg_dump -Fc` into a private temporary folder, then `pg_restore`, each end logged in as the role of
its connection string. A project move copies each version and the live state this way.

Both ends are the agent's own roles: the dump reads what the agent may read, and the
load runs the agent's code (CHECK constraints, index expressions) as the agent at most.
`--no-owner --no-acl`: everything loaded is owned by the destination's role. The
passwords go through the environment, never a command line, and errors are masked.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from .errors import EngineError
from .local import archive, events_sql
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
    `target_uri`; CopyFailed with the tool's last words (passwords masked). The engine's
    statement recorder (a superuser's schema, event and guard triggers) stays behind: the
    agent's role may not read or make it, and the destination's engine installs its own."""
    bins = bin_dir or default_bin_dir()
    if bins is None:
        raise CopyFailed(COPY_FAILED.format(why="no pg_dump/pg_restore"))
    target_db = str(conninfo_to_dict(target_uri).get("dbname") or "postgres")
    with tempfile.TemporaryDirectory(prefix="checkpoints-move-") as folder:
        path, listing = Path(folder) / "copy.dump", Path(folder) / "copy.list"
        dump = [str(bins / "pg_dump"), "-Fc", "--compress=none", "--no-owner", "--no-acl"]
        dump += [f"--exclude-schema={events_sql.SCHEMA}", "-f", str(path)]
        _step(dump, _env(source_uri))
        listing.write_text(archive.restorable(bins, path, _env(target_uri)))
        load = [str(bins / "pg_restore"), "--no-owner", "--no-acl", "--exit-on-error"]
        _step([*load, "-L", str(listing), "-d", target_db, str(path)], _env(target_uri))


def _step(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[-500:]
        raise CopyFailed(COPY_FAILED.format(why=mask_password(why) or "no message"))
