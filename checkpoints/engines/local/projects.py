"""Projects: created with their login role, root branch and endpoint; deleted with every
database and role they own. Intent first: rows `init`/`deleting` commit before any
database is created or dropped."""

from __future__ import annotations

from ..base import ROOT_BRANCH_NAME, Endpoint, Project, ProjectCreated
from . import catalog as cat
from . import contain, readonly
from . import names as ids
from . import sql as db
from .cold import ColdTier
from .events import EventsMixin


class ProjectsMixin(EventsMixin):
    _cold: ColdTier

    def project_create(self, *, name: str) -> ProjectCreated:
        project_id = ids.project_id()
        branch_id = ids.branch_id()
        endpoint_id = ids.endpoint_id()
        dbname = self.names.endpoint_db(endpoint_id)
        with self._mutation(project_id, existing=False) as conn:
            role, op_ids = self._project_intent(
                conn, project_id, name, branch_id, endpoint_id, dbname
            )
            try:
                self._fault("project_intent_recorded")
                db.create_empty_database(conn, dbname)
                with self._agent_db(dbname) as branch_conn:
                    contain.give_public_schema(branch_conn, role)
                contain.grant_branch(conn, dbname, role)
                self._events_ensure(dbname)
                if self.superuser_url:
                    self._events_installed(conn, project_id)
                with conn.transaction():
                    conn.execute("UPDATE projects SET state = 'ready' WHERE id = %s", (project_id,))
                    conn.execute("UPDATE branches SET state = 'ready' WHERE id = %s", (branch_id,))
                    self._ops_end(conn, op_ids)
            except BaseException:
                self._remove_project(conn, project_id)
                raise
            return ProjectCreated(
                project=cat.project_from(self._project_row(conn, project_id)),
                branch=self._branch(conn, project_id, branch_id),
                endpoint=Endpoint(
                    id=endpoint_id, project_id=project_id, branch_id=branch_id, host=self.host
                ),
                operations=self._ops(conn, op_ids),
            )

    def _project_intent(
        self,
        conn: db.Conn,
        project_id: str,
        name: str,
        branch_id: str,
        endpoint_id: str,
        dbname: str,
    ) -> tuple[str, list[str]]:
        """Commit the project's rows (`init`), its role and its operations (`running`)
        before any database exists; return the role and the operation ids."""
        role = self.names.role(project_id)
        with conn.transaction():
            conn.execute(
                "INSERT INTO projects (id, name, state) VALUES (%s, %s, 'init')",
                (project_id, name or project_id),
            )
            password = ids.password()
            conn.execute(
                "INSERT INTO roles (project_id, name, password) VALUES (%s, %s, %s)",
                (project_id, role, password),
            )
            db.create_role(conn, role, password)
            contain.apply_role_state(conn, role, password, self.limits, force=True)
            conn.execute(
                "INSERT INTO branches (id, project_id, name, is_default, state, dbname) "
                "VALUES (%s, %s, %s, true, 'init', %s)",
                (branch_id, project_id, ROOT_BRANCH_NAME, dbname),
            )
            conn.execute(
                "INSERT INTO endpoints (id, project_id, branch_id, dbname) VALUES (%s, %s, %s, %s)",
                (endpoint_id, project_id, branch_id, dbname),
            )
            op_ids = self._ops_start(
                conn,
                project_id,
                [("create_timeline", branch_id, None), ("start_compute", branch_id, endpoint_id)],
            )
        return role, op_ids

    def project_get(self, project_id: str) -> Project:
        with self._reading() as conn:
            return cat.project_from(self._project_row(conn, project_id))

    def project_list(self) -> list[Project]:
        """Every ready project (local only: for cleanup tools and tests)."""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {cat.PROJECT_COLUMNS} FROM projects WHERE state = 'ready' "
                "ORDER BY created_at"
            ).fetchall()
        return [cat.project_from(row) for row in rows]

    def project_delete(self, project_id: str) -> None:
        with self._mutation(project_id) as conn:
            with conn.transaction():
                conn.execute(
                    "UPDATE projects SET state = 'deleting', updated_at = now() WHERE id = %s",
                    (project_id,),
                )
            self._remove_project(conn, project_id)

    def _remove_project(self, conn: db.Conn, project_id: str) -> None:
        """Drop every database and the role of a project, then its catalog rows."""
        rows = conn.execute(
            "SELECT dbname FROM branches WHERE project_id = %s "
            "UNION ALL SELECT dbname FROM snapshots WHERE project_id = %s",
            (project_id, project_id),
        ).fetchall()
        for (dbname,) in rows:
            db.drop_database(conn, dbname)
        # Warm copies last: dropping a snapshot waited for a warm-up copying from it.
        for (dbname,) in conn.execute(
            "SELECT dbname FROM warm_copies WHERE project_id = %s", (project_id,)
        ).fetchall():
            db.drop_database(conn, dbname)
        self._cold.archives.drop_project(project_id)
        readonly.drop_for_project(conn, project_id)
        role = conn.execute(
            "SELECT name FROM roles WHERE project_id = %s", (project_id,)
        ).fetchone()
        with conn.transaction():
            for (branch_role,) in conn.execute(
                "DELETE FROM branch_roles WHERE project_id = %s RETURNING name", (project_id,)
            ).fetchall():
                db.drop_role(conn, branch_role)
            if role:
                (role_name,) = role
                db.drop_role(conn, role_name)
            conn.execute("DELETE FROM projects WHERE id = %s", (project_id,))
