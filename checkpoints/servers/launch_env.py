"""The environment the launcher (`make run`) gives its children: web server, workers and
`manage.py --exec`. It names the metadata database, the engine's server and the data
folder, and a secret key kept beside the data."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from checkpoints.servers import pgroles
from checkpoints.servers.pgserver import EmbeddedPostgres

#: The metadata database on the embedded server (unless the operator gave DATABASE_URL).
METADATA_DB = "checkpoints"


def child_env(server: EmbeddedPostgres, data_dir: Path) -> dict[str, str]:
    """This process's environment, with what the operator left unset filled in."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", secret_key(data_dir))
    # Least privilege: Django as the metadata database's owner, the engine as a
    # CREATEDB/CREATEROLE role; neither is the superuser (checkpoints.servers.pgroles).
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = pgroles.app_url(server.data_dir, METADATA_DB) or ""
    # A server per team unless the operator named one server for every team.
    if not env.get("CHECKPOINTS_SERVERS"):
        env["CHECKPOINTS_SERVERS"] = (
            "shared" if env.get("CHECKPOINTS_LOCAL_SERVER_URL") else "per-team"
        )
    if not env.get("CHECKPOINTS_LOCAL_SERVER_URL"):
        env["CHECKPOINTS_LOCAL_SERVER_URL"] = pgroles.engine_url(server.data_dir) or server.url()
    env["CHECKPOINTS_DATA_DIR"] = str(data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def secret_key(data_dir: Path) -> str:
    """A per-installation key, generated once and kept beside the data."""
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
