"""Destructive statements the engine recorded in a project's live database, and protected
tables: what an engine returns and the part of the interface it may offer (the local
engine on a server whose superuser it may use; elsewhere `EngineNotSupported`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import EngineNotSupported

EVENTS_UNSUPPORTED = (
    "{engine} does not record destructive statements here: recording them needs the "
    "server's superuser (the embedded servers have one; an external server or Neon does not)"
)


@dataclass(frozen=True)
class StatementEvent:
    """One destructive statement: `DROP TABLE` of `public.contacts` by `role` at `at`,
    in transaction `xid` (64-bit, with its epoch), its WAL position `lsn` when recorded."""

    id: str
    at: datetime
    role: str
    xid: int
    lsn: str | None
    command: str
    object_type: str
    object: str


@dataclass(frozen=True)
class ProtectedTable:
    schema: str
    table: str
    exists: bool  # False: no such table in the live database now (kept, applies if made)

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}"


class StatementEventsAccess:
    """Recording destructive statements and protecting tables (mixed into `Engine`)."""

    name: str
    #: Whether `statement_events`, `tables_protected` and `table_protect` work.
    supports_statement_events: bool = False

    def statement_events(self, project_id: str) -> list[StatementEvent]:
        """Every destructive statement recorded in the project's live database (copied
        first into the engine's own catalog, where a rollback cannot take them away),
        oldest first."""
        raise EngineNotSupported(EVENTS_UNSUPPORTED.format(engine=self.name), status=501)

    def tables_protected(self, project_id: str) -> list[ProtectedTable]:
        raise EngineNotSupported(EVENTS_UNSUPPORTED.format(engine=self.name), status=501)

    def table_protect(
        self, project_id: str, schema: str, table: str, *, protect: bool
    ) -> list[ProtectedTable]:
        """Protect (or stop protecting) a table of the live database: PostgreSQL then
        refuses DROP, TRUNCATE and DROP COLUMN on it. Returns the protected list."""
        raise EngineNotSupported(EVENTS_UNSUPPORTED.format(engine=self.name), status=501)
