"""What the local engine pins in its own sessions, and the role they act as.

Against an agent's database (a branch, a snapshot, a warm copy, a database being loaded)
the engine's session runs with `search_path = pg_catalog, pg_temp` — nothing the agent
plants in `public` (a function or an operator shadowing a built-in) can be picked by an
engine query, which also names pg_catalog's relations in full — and with a lock and a
statement timeout of the engine's choosing. All three travel in the startup packet
(libpq `options`, or `PGOPTIONS` for pg_dump/pg_restore): a client setting outranks any
`ALTER ROLE`/`ALTER DATABASE` default, and no agent code runs in these sessions to lift
them. The control connection keeps the server's default: the control database and
`postgres` are the engine's alone (PUBLIC may not connect), no agent object is there.

Whatever runs the agent's code (an archive load fires CHECK constraints, domain checks,
generated columns and index expressions) logs in as the project's own role: a `SET ROLE`
from the engine's login would not do, since the agent's code could `RESET ROLE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: PostgreSQL durations without spaces (they travel in a space-separated options string).
_DURATION = re.compile(r"^[0-9]+(us|ms|s|min|h|d)?$")
_DURATION_PARTS = re.compile(r"^([0-9]+)(us|ms|s|min|h|d)?$")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}
CONTROL_OPTIONS = ""


@dataclass(frozen=True)
class SessionLimits:
    """The engine's own bounds on its sessions against agents' databases (setting syntax:
    `5s`, `15min`; `0` turns one off)."""

    lock_timeout: str = "5s"
    statement_timeout: str = "15min"

    def __post_init__(self) -> None:
        for value in (self.lock_timeout, self.statement_timeout):
            if not _DURATION.match(value):
                raise ValueError(f"{value!r} is not a duration such as 5s or 15min")

    def statement_seconds(self) -> float | None:
        """The statement timeout in seconds (None: off), to bound a whole pg_dump run."""
        number, unit = _DURATION_PARTS.match(self.statement_timeout).groups()  # type: ignore[union-attr]
        seconds = int(number) * _UNIT_SECONDS[unit or "ms"]
        return seconds or None

    def options(self) -> str:
        """libpq `options` (and `PGOPTIONS`) of an engine session on an agent's database."""
        return (
            "-c search_path=pg_catalog,pg_temp "
            f"-c lock_timeout={self.lock_timeout} -c statement_timeout={self.statement_timeout}"
        )
