"""The project's login role (repair, new password) and the read-only roles of shares."""

from __future__ import annotations

import logging

from . import contain, readonly
from . import names as ids
from . import sql as db
from .endpoints import EndpointsMixin

log = logging.getLogger(__name__)


class RolesMixin(EndpointsMixin):
    def readonly_role_ensure(self, project_id: str, branch_id: str) -> None:
        owner_uri = self.connection_uri(project_id, branch_id=branch_id)
        with self._mutation(project_id) as conn:
            dbname = self._branch_row(conn, project_id, branch_id).dbname
            readonly.ensure(
                conn,
                self.names,
                project_id=project_id,
                branch_id=branch_id,
                dbname=dbname,
                owner_uri=owner_uri,
                options=self.session_limits.options(),
            )

    def readonly_connection_uri(self, project_id: str, branch_id: str) -> str:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            dbname = self._branch_row(conn, project_id, branch_id).dbname
            return readonly.connection_uri(
                conn, branch_id=branch_id, host=self.host, port=self.port, dbname=dbname
            )

    def _role_state(self, conn: db.Conn, project_id: str) -> list[str]:
        """The project role, and each preview's own role, back to the engine's state: a
        preview's role may change its own password too (its connection string, shown
        live, would stop working). Returns what was repaired ("preview password", …)."""
        role, password = self._role(conn, project_id)
        repaired = contain.apply_role_state(conn, role, password, self.limits)
        for own, own_password in conn.execute(
            "SELECT name, password FROM branch_roles WHERE project_id = %s ORDER BY name",
            (project_id,),
        ).fetchall():
            for item in contain.apply_role_state(conn, own, own_password, self.limits):
                if f"preview {item}" not in repaired:
                    repaired.append(f"preview {item}")
        if repaired:
            log.warning("role of project %s repaired: %s", project_id, ", ".join(repaired))
        return repaired

    def role_repair(self, project_id: str) -> list[str]:
        """Put the project role's password, settings and connection limit back to the
        engine's; return what had been changed ("password", "settings", "connection
        limit"; empty when nothing). Local only."""
        with self._mutation(project_id) as conn:
            return self._role_state(conn, project_id)

    def role_password_reset(self, project_id: str) -> str:
        """Give the project's role (and each preview's role) a new password: the old one
        stops working at once and the role's open sessions end. Returns the new connection
        string (local only; Neon: `POST …/branches/{b}/roles/{r}/reset_password`)."""
        with self._mutation(project_id) as conn:
            role, _ = self._role(conn, project_id)
            password = ids.password()
            with conn.transaction():
                conn.execute(
                    "UPDATE roles SET password = %s WHERE project_id = %s", (password, project_id)
                )
                contain.apply_role_state(conn, role, password, self.limits, force=True)
            contain.end_role_sessions(conn, role)
            self._preview_passwords_reset(conn, project_id)
        return self.connection_uri(project_id)

    def _preview_passwords_reset(self, conn: db.Conn, project_id: str) -> None:
        """Each preview's own role gets a new password too, its sessions ended: a rotation
        leaves no connection string of the project working (`connection_uri` reads them)."""
        for (own,) in conn.execute(
            "SELECT name FROM branch_roles WHERE project_id = %s", (project_id,)
        ).fetchall():
            password = ids.password()
            with conn.transaction():
                conn.execute(
                    "UPDATE branch_roles SET password = %s WHERE name = %s", (password, own)
                )
                contain.apply_role_state(conn, own, password, self.limits, force=True)
            contain.end_role_sessions(conn, own)

    def role_sessions_end(self, project_id: str) -> int:
        """End the project role's sessions from the engine's side (works when the role's
        connection slots are all taken)."""
        with self._reading() as conn:
            role, _ = self._role(conn, project_id)
            return contain.end_role_sessions(conn, role)
