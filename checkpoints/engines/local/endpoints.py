"""Endpoints: the stable database name a connection string carries, held by the branch
it serves; a preview branch's endpoint comes with a login role of the branch's own."""

from __future__ import annotations

from urllib.parse import quote

from psycopg import sql

from ..base import Endpoint, EndpointCreated
from ..errors import EngineInvalidRequest
from . import catalog as cat
from . import contain
from . import names as ids
from . import sql as db
from .records import BranchRow
from .rows import LocalRows


class EndpointsMixin(LocalRows):
    def endpoint_create(self, project_id: str, branch_id: str) -> EndpointCreated:
        with self._mutation(project_id) as conn:
            branch = self._branch_row(conn, project_id, branch_id)
            if self._endpoint_of(conn, branch_id):
                raise EngineInvalidRequest(
                    f"branch {branch_id} already has a read-write endpoint", status=409
                )
            endpoint_id = ids.endpoint_id()
            dbname = self.names.endpoint_db(endpoint_id)
            with conn.transaction():
                # A branch without endpoint is not connectable, so nobody is on it.
                db.rename_database(conn, branch.dbname, dbname)
                db.allow_connections(conn, dbname, True)
                conn.execute(
                    "UPDATE branches SET dbname = %s, updated_at = now() WHERE id = %s",
                    (dbname, branch_id),
                )
                conn.execute(
                    "INSERT INTO endpoints (id, project_id, branch_id, dbname) "
                    "VALUES (%s, %s, %s, %s)",
                    (endpoint_id, project_id, branch_id, dbname),
                )
                op_ids = self._ops_start(
                    conn, project_id, [("start_compute", branch_id, endpoint_id)]
                )
                self._ops_end(conn, op_ids)
                own = (
                    None
                    if branch.is_default
                    else self._branch_role_create(conn, project_id, branch)
                )
            if own is not None:
                self._branch_role_adopt(conn, project_id, dbname, own)
            return EndpointCreated(
                endpoint=Endpoint(
                    id=endpoint_id, project_id=project_id, branch_id=branch_id, host=self.host
                ),
                operations=self._ops(conn, op_ids),
            )

    def _branch_role_create(self, conn: db.Conn, project_id: str, branch: BranchRow) -> str:
        """In the endpoint's transaction: a login role of the branch's own."""
        role = self.names.role(branch.id)
        password = ids.password()
        conn.execute(
            "INSERT INTO branch_roles (branch_id, project_id, name, password) "
            "VALUES (%s, %s, %s, %s)",
            (branch.id, project_id, role, password),
        )
        db.create_role(conn, role, password)
        contain.apply_role_state(conn, role, password, self.limits, force=True)
        return role

    def _branch_role_adopt(self, conn: db.Conn, project_id: str, dbname: str, role: str) -> None:
        """The branch's objects pass to its own role; the project's role loses its grants."""
        project_role, _ = self._role(conn, project_id)
        with (
            self._agent_db(dbname) as branch_conn,
            contain.privileges_of(branch_conn, project_role, role),
        ):
            # Schemas first: a non-superuser engine may only give an object to a role that
            # may create in its schema.
            owned = branch_conn.execute(
                "SELECT nspname FROM pg_catalog.pg_namespace "
                "WHERE nspowner = pg_catalog.to_regrole(%s)",
                (project_role,),
            ).fetchall()
            for (schema,) in owned:
                branch_conn.execute(
                    sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                        sql.Identifier(schema), sql.Identifier(role)
                    )
                )
            branch_conn.execute(
                sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                    sql.Identifier(project_role), sql.Identifier(role)
                )
            )
        contain.grant_branch(conn, dbname, role)
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(dbname), sql.Identifier(project_role)
            )
        )

    def endpoint_list(self, project_id: str) -> list[Endpoint]:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT {cat.ENDPOINT_COLUMNS} FROM endpoints WHERE project_id = %s "
                "ORDER BY created_at",
                (project_id,),
            ).fetchall()
        return [cat.endpoint_from(row, self.host) for row in rows]

    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            if branch_id is None:
                branch_id = self._default_branch_row(conn, project_id).id
            else:
                self._branch_row(conn, project_id, branch_id)
            endpoint = self._endpoint_of(conn, branch_id)
            if endpoint is None:
                raise EngineInvalidRequest(
                    f"branch {branch_id} has no endpoint: create one with endpoint_create "
                    "before connecting",
                    status=400,
                )
            role, password = self._role(conn, project_id)
            own = conn.execute(
                "SELECT name, password FROM branch_roles WHERE branch_id = %s", (branch_id,)
            ).fetchone()
            if own is not None:  # a preview: its own role, which opens nothing else
                role, password = own
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"postgresql://{quote(role, safe='')}:{quote(password, safe='')}@{host}:{self.port}/"
            f"{quote(endpoint.dbname, safe='')}"
        )
