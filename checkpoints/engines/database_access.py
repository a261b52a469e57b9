"""What an engine may offer beyond Neon's control plane: a read-only role per branch (share
links), the project's SQL reader, its owner on a bare branch, branch copies, and its role's
password and sessions.

`Engine` inherits these; each refuses (`EngineNotSupported`) unless the engine overrides it
and sets the flag that says it works.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .errors import EngineNotSupported
from .types import READONLY_UNSUPPORTED, Branch


class DatabaseAccess(ABC):
    """Roles and connections beyond a branch's endpoint (mixed into `Engine`)."""

    name: str
    #: Whether `readonly_role_ensure` / `readonly_connection_uri` work (share links).
    supports_readonly_roles: bool = False

    @abstractmethod
    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        """The connection string of a branch's endpoint (see `Engine.connection_uri`)."""

    # Read-only access (share links)
    def readonly_role_ensure(self, project_id: str, branch_id: str) -> None:
        """Give the branch a login role of its own that can only read: CONNECT on the
        branch's database, USAGE on its schemas, SELECT on its tables; no ownership, no
        CREATE (and `default_transaction_read_only` on top). Idempotent; the role goes
        when the branch is deleted."""
        raise EngineNotSupported(READONLY_UNSUPPORTED.format(engine=self.name), status=501)

    def readonly_connection_uri(self, project_id: str, branch_id: str) -> str:
        """The connection string of the branch's read-only role (`readonly_role_ensure`
        first). It carries a password: never log or render it."""
        raise EngineNotSupported(READONLY_UNSUPPORTED.format(engine=self.name), status=501)

    # SQL reads (run_sql, describe_schema) and migration copies
    #: Whether `sql_reader_uri`, `sql_owner_uri` and `branch_create` work.
    supports_sql_reads: bool = False

    def sql_reader_uri(
        self,
        project_id: str,
        branch_id: str | None = None,
        *,
        grant: bool = False,
        exclusive: bool = False,
    ) -> str:
        """The connection string (with a password: never log it) of the project's reader
        on a branch (default: the root): a role that may only CONNECT, use schemas and
        SELECT. `grant` (re)grants it there; `exclusive` also takes CONNECT away from the
        project's role, so only the reader reaches the branch (a version's read copy)."""
        raise EngineNotSupported(f"{self.name} has no SQL reader", status=501)

    def sql_owner_uri(self, project_id: str, branch_id: str) -> str:
        """The project role's connection string on a branch without an endpoint (a
        migration's copy; opened to connections): the agent's own privileges."""
        raise EngineNotSupported(f"{self.name} cannot connect to a bare branch", status=501)

    def branch_create(
        self, project_id: str, *, parent_id: str | None = None, name: str | None = None
    ) -> Branch:
        """A child branch copying its parent's data now (default parent: the root)."""
        raise EngineNotSupported(f"{self.name} cannot copy a branch here", status=501)

    def role_password_reset(self, project_id: str) -> str:
        """Give the project's role a new password: the old one stops working and open
        sessions end. Returns the new connection string of the default branch."""
        raise EngineNotSupported(f"{self.name} cannot reset the role's password")

    def live_database_missing(self, project_id: str) -> bool:
        """Whether the live database is gone behind the engine's back (then a rollback
        has nothing to keep and rebuilds it). An engine that cannot lose it: never."""
        return False

    def role_sessions_end(self, project_id: str) -> int:
        """End every open session of the project's role (one holding a lock that stops a
        job, say); return how many. Here: the role ends its own other sessions through its
        connection string (PostgreSQL lets a role signal its own backends)."""
        import psycopg

        uri = self.connection_uri(project_id)
        with psycopg.connect(uri, connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(pg_catalog.pg_terminate_backend(pid)) "
                "FROM pg_catalog.pg_stat_activity "
                "WHERE usename = current_user AND pid <> pg_catalog.pg_backend_pid()"
            ).fetchone()
        return int(row[0]) if row else 0
