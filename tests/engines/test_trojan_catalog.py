"""A trojan catalog (issue 27): objects an agent plants in its own database, and every step
of the local engine that touches that database.

Each planted object calls `public.trojan(kind)`, which first tries to climb out of its
session — `RESET ROLE` (what an engine `SET ROLE` could not stop), `SET ROLE` to the
engine's or another project's role, `CREATE ROLE`, `GRANT` another project's role to
itself, `ALTER ROLE` another project's password — and then says who it ran as with a
`RAISE WARNING` into the server's log (it works in read-only transactions and in sessions
the test does not hold, like pg_restore's). The test reads those lines after each step
and asserts: every planted object that ran, ran as the project's role or a lesser one
(the preview's, a share's read-only role), none of the escalations held, and no role,
membership or other project changed. The engine runs as `checkpoints_engine` (the
least-privilege role of `make run`), with a cold tier, once per module.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from checkpoints.engines.connect import connect_app, run_sql
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.tables import tables_restore
from checkpoints.engines.uri_copy import database_copy
from checkpoints.jobs.checks import schema_fingerprint
from checkpoints.lifecycle.diff import manifest_diff
from checkpoints.lifecycle.manifest import manifest_of_uri, manifest_verify
from checkpoints.servers import pgroles
from tests.postgres_plugin import engine_url

MARK = f"trojan{uuid.uuid4().hex[:8]}"

#: The recorder and the escalations it tries. {mark}, {engine} and {other} are filled in.
RECORDER = """
CREATE FUNCTION public.trojan(kind text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
DECLARE held text := '';
BEGIN
  BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN SET ROLE {engine}; held := held || 'set-role-engine '; RESET ROLE;
  EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN SET ROLE {other}; held := held || 'set-role-other '; RESET ROLE;
  EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN CREATE ROLE {mark}_made; held := held || 'create-role ';
  EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE format('GRANT {other} TO %I', current_user); held := held || 'grant-other ';
  EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN ALTER ROLE {other} PASSWORD 'stolen'; held := held || 'password-other ';
  EXCEPTION WHEN OTHERS THEN NULL; END;
  RAISE WARNING '{mark}|%|%|%|%|', kind, current_user, session_user, held;
  RETURN true;
END $f$;
-- Index expressions and generated columns need an IMMUTABLE function (a lie).
CREATE FUNCTION public.trojan_imm(kind text, x int) RETURNS boolean LANGUAGE plpgsql
IMMUTABLE AS $f$ BEGIN RETURN public.trojan(kind); END $f$;
"""

#: The catalog: (kind, statements). Each is planted with the project's own connection.
PLANTED = {
    "check": "CREATE TABLE public.t_check (id int CHECK (public.trojan('check')));"
    "INSERT INTO public.t_check VALUES (1), (2)",
    "trigger": "CREATE TABLE public.t_trigger (id int);"
    "CREATE FUNCTION public.trojan_trg() RETURNS trigger LANGUAGE plpgsql AS "
    "$f$ BEGIN PERFORM public.trojan('trigger'); RETURN NEW; END $f$;"
    "INSERT INTO public.t_trigger VALUES (1), (2);"
    "CREATE TRIGGER trojan BEFORE INSERT OR UPDATE ON public.t_trigger "
    "FOR EACH ROW EXECUTE FUNCTION public.trojan_trg()",
    "default": "CREATE TABLE public.t_default (id int, "
    "v boolean DEFAULT public.trojan('default'));"
    "INSERT INTO public.t_default (id) VALUES (1), (2)",
    "generated": "CREATE TABLE public.t_generated (id int, "
    "v boolean GENERATED ALWAYS AS (public.trojan_imm('generated', id)) STORED);"
    "INSERT INTO public.t_generated (id) VALUES (1), (2)",
    "index": "CREATE TABLE public.t_index (id int);"
    "INSERT INTO public.t_index VALUES (1), (2);"
    "CREATE INDEX ON public.t_index ((public.trojan_imm('index', id)))",
    "policy": "CREATE TABLE public.t_policy (id int);"
    "INSERT INTO public.t_policy VALUES (1), (2);"
    "ALTER TABLE public.t_policy ENABLE ROW LEVEL SECURITY;"
    "CREATE POLICY trojan ON public.t_policy USING (public.trojan('policy'))",
    "view": "CREATE VIEW public.v_trojan AS SELECT public.trojan('view') AS x",
    "rule": "CREATE TABLE public.t_rule (id int);"
    "INSERT INTO public.t_rule VALUES (1), (2);"
    "CREATE RULE trojan AS ON INSERT TO public.t_rule DO ALSO SELECT public.trojan('rule')",
    "shadow-function": "CREATE FUNCTION public.hashtextextended(t text, seed integer) "
    "RETURNS bigint LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.trojan('shadow-function'); "
    "RETURN pg_catalog.hashtextextended(t, seed); END $f$",
    "shadow-operator": "CREATE FUNCTION public.trojan_eq(oid, regrole) RETURNS boolean "
    "LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.trojan('shadow-operator'); "
    "RETURN $1 OPERATOR(pg_catalog.=) $2::oid; END $f$;"
    "CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regrole, "
    "FUNCTION = public.trojan_eq)",
    "cast": "CREATE TYPE public.trojan_t AS (x int);"
    "CREATE FUNCTION public.trojan_cast(public.trojan_t) RETURNS text LANGUAGE plpgsql AS "
    "$f$ BEGIN PERFORM public.trojan('cast'); RETURN 'x'; END $f$;"
    "CREATE CAST (public.trojan_t AS text) WITH FUNCTION public.trojan_cast(public.trojan_t);"
    "CREATE TABLE public.t_cast (id int, v public.trojan_t);"
    "INSERT INTO public.t_cast VALUES (1, ROW(1))",
    "domain": "CREATE DOMAIN public.trojan_d AS int CHECK (public.trojan_imm('domain', VALUE));"
    "CREATE TABLE public.t_domain (id public.trojan_d);"
    "INSERT INTO public.t_domain VALUES (1), (2)",
}
#: What the project's role may not plant at all.
REFUSED = {
    "event-trigger": "CREATE FUNCTION public.trojan_evt() RETURNS event_trigger "
    "LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.trojan('event-trigger'); END $f$;"
    "CREATE EVENT TRIGGER trojan ON ddl_command_start "
    "EXECUTE FUNCTION public.trojan_evt()",
}
#: Kinds whose code a cold load must run (so the load step is not vacuously "safe").
LOAD_RUNS = {"check", "generated", "index", "domain"}
TABLES = ["t_check", "t_trigger", "t_default", "t_generated", "t_index", "t_domain", "t_rule"]


@dataclass
class Ran:
    kind: str
    current_user: str
    session_user: str
    escalations: str


@dataclass
class Trojan:
    engine: LocalEngine
    project_id: str
    uri: str
    other_uri: str
    log: Path
    moved_uri: str = ""  # an empty project a move copies into (made before the roles' census)
    seen: int = 0
    steps: dict[str, list[Ran]] = field(default_factory=dict)
    allowed: set[str] = field(default_factory=set)

    @property
    def role(self) -> str:
        return self.engine.names.role(self.project_id)

    def step(self, name: str, fn) -> None:
        """Run one engine step; keep what the planted objects said while it ran."""
        fn()
        text = self.log.read_text(errors="replace")
        new, self.seen = text[self.seen :], len(text)
        found = re.findall(rf"{MARK}\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|", new)
        self.steps[name] = [Ran(*row) for row in found]

    def live_branch(self) -> str:
        return next(b.id for b in self.engine.branch_list(self.project_id) if b.default)

    def rollback(self, snapshot_id: str) -> None:
        result = self.engine.snapshot_restore(
            self.project_id,
            snapshot_id,
            target_branch_id=self.live_branch(),
            finalize_restore=True,
        )
        assert all(op.succeeded for op in result.operations)


def roles_state(pg_server) -> tuple[list, list]:
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        roles = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls, "
            "rolconnlimit, md5(coalesce(a.rolpassword, '')) FROM pg_authid a ORDER BY 1"
        ).fetchall()
        members = conn.execute(
            "SELECT roleid::regrole::text, member::regrole::text, grantor::regrole::text, "
            "admin_option, inherit_option, set_option FROM pg_auth_members ORDER BY 1, 2, 3"
        ).fetchall()
    return roles, members


def plant(uri: str, engine_role: str, other_role: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(RECORDER.format(mark=MARK, engine=engine_role, other=other_role))
        for statements in PLANTED.values():
            conn.execute(statements)
        for kind, statements in REFUSED.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="event trigger"):
                conn.execute(statements)
            assert not conn.execute(
                "SELECT 1 FROM pg_event_trigger WHERE evtname = 'trojan'"
            ).fetchone(), kind


def _steps(t: Trojan) -> None:
    engine, pid = t.engine, t.project_id
    branch = t.live_branch()
    v1 = engine.snapshot_create(pid, branch, name="v1").snapshot.id
    t.step("save version", lambda: None)

    def save_with_app_connected() -> None:
        with psycopg.connect(t.uri, autocommit=True) as app:  # a dump and a load, not a copy
            app.execute("SELECT 1")
            made = engine.snapshot_create(pid, t.live_branch(), name="served").snapshot.id
            assert app.execute("SELECT count(*) FROM public.t_check").fetchone() == (2,)
        engine.snapshot_delete(pid, made)

    t.step("save version, app connected", save_with_app_connected)
    engine.warm_up(pid)
    t.step("rollback warm", lambda: t.rollback(v1))
    v2 = engine.snapshot_create(pid, t.live_branch(), name="v2").snapshot.id
    t.step("rollback hot", lambda: t.rollback(v2))
    engine.warm_up(pid)  # one warm copy: v2's; v1 may go cold
    t.step("freeze to cold", lambda: engine.snapshot_freeze(pid, v1))
    t.step("rollback cold", lambda: t.rollback(v1))
    preview: dict[str, str] = {}

    def preview_open() -> None:
        made = engine.snapshot_restore(pid, v1, name="preview")
        engine.endpoint_create(pid, made.branch.id)
        engine.readonly_role_ensure(pid, made.branch.id)
        preview["branch"] = made.branch.id
        preview["uri"] = engine.connection_uri(pid, branch_id=made.branch.id)
        preview["ro"] = engine.readonly_connection_uri(pid, made.branch.id)

    t.step("preview open", preview_open)
    t.allowed |= {
        psycopg.conninfo.conninfo_to_dict(preview["uri"])["user"],
        psycopg.conninfo.conninfo_to_dict(preview["ro"])["user"],
    }

    def share_read() -> None:
        for relation in ("v_trojan", "t_policy", *TABLES):
            try:
                run_sql(preview["ro"], f"SELECT * FROM public.{relation}")
            except psycopg.Error:
                pass  # the read-only role may not run the app's functions: refused is fine

    t.step("share view read", share_read)
    manifest: dict = {}

    def diff() -> None:
        manifest["live"] = manifest_of_uri(t.uri)
        manifest["preview"] = manifest_of_uri(preview["uri"])
        assert manifest["live"] is not None and manifest["preview"] is not None
        manifest_diff(manifest["live"], manifest["preview"])

    t.step("diff", diff)

    def verify() -> None:
        schema_fingerprint(t.uri)
        with connect_app(t.uri) as conn:
            conn.read_only = True
            assert manifest_verify(conn, manifest["live"]) == []

    t.step("manifest and verify", verify)
    t.step(
        "table restore",
        lambda: tables_restore(preview["uri"], t.uri, [f"public.{n}" for n in TABLES]),
    )

    def cleanup() -> None:
        engine.branch_delete(pid, preview["branch"])
        engine.snapshot_delete(pid, v2)
        engine.recover()

    t.step("cleanup", cleanup)
    t.step("thaw", lambda: engine.snapshot_thaw(pid, v1))
    t.step("move copy", lambda: database_copy(t.uri, t.moved_uri))


STEPS = [
    "save version",
    "save version, app connected",
    "rollback warm",
    "rollback hot",
    "freeze to cold",
    "rollback cold",
    "preview open",
    "share view read",
    "diff",
    "manifest and verify",
    "table restore",
    "cleanup",
    "thaw",
    "move copy",
]


@dataclass
class Outcome:
    trojan: Trojan
    before: tuple[list, list]
    after: tuple[list, list]
    other_rows: list[tuple]


@pytest.fixture(scope="module")
def outcome(pg_server, tmp_path_factory) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("trojan")
    engine = LocalEngine(
        engine_url(),
        control_db=f"ckt_{uuid.uuid4().hex[:10]}",
        archive_dir=tmp / "cold",
        reflink=False,
        warm_copies=1,
    )
    try:
        other = engine.project_create(name="team b")
        other_uri = engine.connection_uri(other.project.id)
        run_sql(other_uri, "CREATE TABLE secrets (id int, secret text)")
        run_sql(other_uri, "INSERT INTO secrets VALUES (1, 'b only')")
        hostile = engine.project_create(name="team a").project.id
        uri = engine.connection_uri(hostile)
        plant(uri, pgroles.ENGINE_ROLE, engine.names.role(other.project.id))
        trojan = Trojan(engine, hostile, uri, other_uri, pg_server.log_file)
        trojan.allowed.add(trojan.role)
        moved = engine.project_create(name="team a, moved").project.id
        trojan.moved_uri = engine.connection_uri(moved)
        trojan.allowed.add(engine.names.role(moved))  # a move's destination: the project's own
        trojan.seen = len(trojan.log.read_text(errors="replace"))
        before = roles_state(pg_server)
        _steps(trojan)
        after = roles_state(pg_server)
        other_rows = run_sql(other_uri, "SELECT id, secret FROM secrets ORDER BY id")
        yield Outcome(trojan, before, after, other_rows)
    finally:
        engine.destroy()


@pytest.mark.parametrize("step", STEPS)
def test_planted_code_runs_as_the_project_at_most(outcome: Outcome, step: str):
    ran = outcome.trojan.steps[step]
    allowed = outcome.trojan.allowed
    for record in ran:
        assert record.current_user in allowed, (step, record)
        assert record.session_user in allowed, (step, record)
        assert record.escalations == "", (step, record)


def test_a_cold_load_runs_the_agents_checks_as_the_project(outcome: Outcome):
    """Not vacuous: loading an archive does run the CHECK constraints, domain checks,
    generated columns and index expressions — as the project's role, logged in as it."""
    role = outcome.trojan.role
    for step in ("rollback cold", "thaw", "save version, app connected"):
        kinds = {r.kind for r in outcome.trojan.steps[step]}
        assert kinds >= LOAD_RUNS, (step, kinds)
        assert {(r.current_user, r.session_user) for r in outcome.trojan.steps[step]} == {
            (role, role)
        }
    moved = {r.kind for r in outcome.trojan.steps["move copy"]}
    assert moved >= LOAD_RUNS, moved  # the move's load runs them too, as its destination


def test_restored_triggers_do_not_fire_during_a_load(outcome: Outcome):
    for step in ("rollback cold", "preview open", "thaw", "save version, app connected"):
        assert not {"trigger", "rule"} & {r.kind for r in outcome.trojan.steps[step]}, step


def test_engine_queries_never_pick_the_agents_operator(outcome: Outcome):
    """The engine's sessions pin search_path: the preview's ownership hand-over compares
    `oid = regrole`, which `public.=(oid, regrole)` would have won."""
    fired = [
        s for s, ran in outcome.trojan.steps.items() if "shadow-operator" in {r.kind for r in ran}
    ]
    assert fired == []


def test_no_role_membership_or_other_project_changed(outcome: Outcome):
    assert outcome.after == outcome.before
    assert outcome.other_rows == [(1, "b only")]
    assert not any(MARK in name for name, *_ in outcome.after[0])
