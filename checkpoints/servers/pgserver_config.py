"""Where an embedded server is found: its `server.json` (port, superuser password) in the
data folder, and the loopback ports it can take or waits on."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "postgres"
CONFIG_FILE = "server.json"
FIRST_PORT = 54330


@dataclass(frozen=True)
class ServerConfig:
    port: int
    password: str

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return (
            f"postgresql://{user}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"
        )


def read_config(data_dir: Path) -> ServerConfig | None:
    """The port and superuser password of an initialised server, or None."""
    path = Path(data_dir) / CONFIG_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return ServerConfig(port=int(raw["port"]), password=raw["password"])


def free_port(start: int = FIRST_PORT) -> int:
    """The first port from `start` that a server can listen on. Probed with SO_REUSEADDR,
    as servers bind: connections left in TIME_WAIT by the last run do not move it."""
    for port in range(start, start + 1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1 for the embedded PostgreSQL")


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"PostgreSQL is not accepting connections on port {port}")
