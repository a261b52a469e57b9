"""What the server's superuser installs in a project's database so that PostgreSQL itself
records each statement that destroys the agent's schema or data, and refuses it on a
protected table (engines/local/events.py runs it; docs/roles.md says why it is safe).

- `checkpoints_events`, a schema the superuser owns: the project's role has no privilege
  there (it can neither read, write, drop nor forge a record); the engine's role may read
  the records and keep the list of protected tables.
- event triggers (superuser only; the agent can neither drop nor disable them):
  `sql_drop` records DROP TABLE / SCHEMA / VIEW, ALTER TABLE … DROP COLUMN, DROP OWNED
  (and refuses them on a protected table); `ddl_command_end` gives each new table a
  guard trigger and refuses any statement that removes or disables one.
- TRUNCATE fires no event trigger: each table's guard (`BEFORE TRUNCATE`) records it.

Every function is SECURITY DEFINER with `search_path = pg_catalog, pg_temp` and names
everything in full: it calls only PostgreSQL's own functions and inserts into its own
tables, so no object the agent plants (a shadowing function or operator) runs in it.
The record's `role` is `session_user`: the login that ran the statement.
"""

from __future__ import annotations

SCHEMA = "checkpoints_events"
GUARD = "checkpoints_guard"
VERSION = "1"

#: Tables of the agent: ordinary and partitioned, permanent, outside the system schemas.
_USER_TABLES = """
      SELECT c.oid FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'checkpoints_events')
        AND n.nspname NOT LIKE 'pg\\_%'"""

_UNGUARDED = f"""
      SELECT t.oid FROM ({_USER_TABLES}) t (oid)
      WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                        WHERE g.tgrelid = t.oid AND g.tgenabled IN ('O', 'A')
                          AND g.tgfoid = 'checkpoints_events.guard()'::pg_catalog.regprocedure)"""

_HINT = (
    "Save a version of the project first, then ask a person to lift the protection of "
    "this table (in Checkpoints: Protected tables on the project page, the API, the MCP tool "
    "protect_table or `manage.py events unprotect`); or leave the table as it is."
)

INSTALL = f"""
SET LOCAL search_path = pg_catalog, pg_temp;
CREATE SCHEMA IF NOT EXISTS checkpoints_events;
CREATE TABLE IF NOT EXISTS checkpoints_events.statements (
  id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
  at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  role name NOT NULL DEFAULT pg_catalog."session_user"(),
  xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
  lsn pg_lsn,
  command text NOT NULL,
  object_type text NOT NULL,
  object text NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints_events.protected (
  relid oid PRIMARY KEY,
  schema_name name NOT NULL,
  table_name name NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints_events.meta (key text PRIMARY KEY, value text);
REVOKE ALL ON ALL TABLES IN SCHEMA checkpoints_events FROM PUBLIC;

CREATE OR REPLACE FUNCTION checkpoints_events.record(command text, kind text, object text)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
  INSERT INTO checkpoints_events.statements (command, object_type, object, lsn)
  VALUES ($1, $2, $3, pg_catalog.pg_current_wal_insert_lsn())
$f$;

CREATE OR REPLACE FUNCTION checkpoints_events.refuse(rel oid, command text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE label text;
BEGIN
  SELECT pg_catalog.format('%I.%I', p.schema_name, p.table_name) INTO label
  FROM checkpoints_events.protected p WHERE p.relid = rel;
  IF label IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = pg_catalog.format(
        '%s refused: table %s is protected by Checkpoints', command, label),
      HINT = '{_HINT}';
  END IF;
END $f$;

CREATE OR REPLACE FUNCTION checkpoints_events.guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  PERFORM checkpoints_events.refuse(TG_RELID, 'TRUNCATE');
  PERFORM checkpoints_events.record(
    'TRUNCATE', 'table', pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
  RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION checkpoints_events.on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE d record;
BEGIN
  FOR d IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() LOOP
    IF d.object_type IN ('table', 'table column') THEN
      PERFORM checkpoints_events.refuse(d.objid, TG_TAG);
    END IF;
    IF d.object_type IN ('table', 'schema', 'table column', 'view', 'materialized view',
                         'foreign table')
       AND NOT d.is_temporary AND (d.original OR TG_TAG = 'DROP OWNED') THEN
      PERFORM checkpoints_events.record(TG_TAG, d.object_type, d.object_identity);
    END IF;
  END LOOP;
END $f$;

CREATE OR REPLACE FUNCTION checkpoints_events.guard_new(command text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE rel oid;
BEGIN
  FOR rel IN {_UNGUARDED} LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c
               WHERE c.objid = rel AND c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                 AND c.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')) THEN
      EXECUTE pg_catalog.format(
        'CREATE TRIGGER {GUARD} BEFORE TRUNCATE ON %s '
        'FOR EACH STATEMENT EXECUTE FUNCTION checkpoints_events.guard()', rel::regclass);
    ELSE
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = pg_catalog.format(
          '%s refused: the Checkpoints guard trigger of table %s records its TRUNCATEs '
          'and may not be dropped or disabled', command, rel::regclass);
    END IF;
  END LOOP;
END $f$;

-- Not SECURITY DEFINER: the guards guard_new creates (as the superuser) fire this
-- trigger again, and a superuser's own DDL needs no check.
CREATE OR REPLACE FUNCTION checkpoints_events.on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) THEN
    PERFORM checkpoints_events.guard_new(TG_TAG);
  END IF;
END $f$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA checkpoints_events FROM PUBLIC;
-- on_ddl_end runs as whoever ran the DDL: it may reach guard_new, nothing else.
GRANT USAGE ON SCHEMA checkpoints_events TO PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoints_events.guard_new(text) TO PUBLIC;

DO $d$
DECLARE rel oid;
BEGIN
  FOR rel IN {_UNGUARDED} LOOP
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER {GUARD} BEFORE TRUNCATE ON %s '
      'FOR EACH STATEMENT EXECUTE FUNCTION checkpoints_events.guard()', rel::regclass);
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger
                 WHERE evtname = 'checkpoints_events_drop') THEN
    CREATE EVENT TRIGGER checkpoints_events_drop ON sql_drop
      EXECUTE FUNCTION checkpoints_events.on_drop();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger
                 WHERE evtname = 'checkpoints_events_ddl_end') THEN
    CREATE EVENT TRIGGER checkpoints_events_ddl_end ON ddl_command_end
      EXECUTE FUNCTION checkpoints_events.on_ddl_end();
  END IF;
END $d$;
INSERT INTO checkpoints_events.meta VALUES ('version', '{VERSION}')
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
"""

#: Run after INSTALL with the engine's role as {engine}: it reads the records and keeps
#: the protected list (its sessions there run no agent code: docs/roles.md).
GRANT_ENGINE = """
GRANT USAGE ON SCHEMA checkpoints_events TO {engine};
GRANT SELECT ON checkpoints_events.statements, checkpoints_events.meta TO {engine};
GRANT SELECT, INSERT, DELETE ON checkpoints_events.protected TO {engine};
"""

#: The engine's own tables in its control database (engines/local/events.py).
CATALOG = """
CREATE TABLE IF NOT EXISTS statement_events (
    id uuid PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    at timestamptz NOT NULL,
    role text NOT NULL,
    xid bigint NOT NULL,
    lsn text,
    command text NOT NULL,
    object_type text NOT NULL,
    object text NOT NULL
);
CREATE INDEX IF NOT EXISTS statement_events_project ON statement_events (project_id, at);
CREATE TABLE IF NOT EXISTS protected_tables (
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, schema_name, table_name)
);
-- Since when the live database has the recorder, and when the protected list last changed:
-- a restore from a copy made after both needs neither put back (a warm rollback stays fast).
CREATE TABLE IF NOT EXISTS events_projects (
    project_id text PRIMARY KEY REFERENCES projects ON DELETE CASCADE,
    installed_at timestamptz,
    protect_changed_at timestamptz
);
"""

#: Whether a database has the install (read by the engine's role), then its version.
INSTALLED = """
SELECT (SELECT count(*) FROM pg_catalog.pg_event_trigger
        WHERE evtname IN ('checkpoints_events_drop', 'checkpoints_events_ddl_end')
          AND evtenabled <> 'D') = 2
   AND pg_catalog.to_regclass('checkpoints_events.meta') IS NOT NULL
   AND pg_catalog.has_table_privilege('checkpoints_events.meta', 'SELECT')
"""
INSTALLED_VERSION = "SELECT value FROM checkpoints_events.meta WHERE key = 'version'"

RECORDS = """
SELECT id::text, at, role::text, xid::text::bigint, lsn::text, command, object_type, object
FROM checkpoints_events.statements ORDER BY at, id
"""

#: The protected list made again from (schema, table) names: oids change with a reload.
PROTECT_CLEAR = "DELETE FROM checkpoints_events.protected"
PROTECT_SYNC = """
INSERT INTO checkpoints_events.protected (relid, schema_name, table_name)
SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[])) wanted (s, t)
  ON n.nspname OPERATOR(pg_catalog.=) wanted.s AND c.relname OPERATOR(pg_catalog.=) wanted.t
WHERE c.relkind IN ('r', 'p');
"""


def recorder_entry(line: str) -> bool:
    """Whether a line of `pg_restore --list` (or of a plain dump) is the recorder's: its
    event triggers and the guard triggers on the agent's tables. Only the superuser may
    create them, and the engine installs them again after a load."""
    return (" EVENT TRIGGER " in line and " checkpoints_events_" in line) or (
        (" TRIGGER " in line or line.startswith("CREATE TRIGGER ")) and f" {GUARD} " in line
    )
