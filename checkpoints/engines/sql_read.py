"""One read of an agent's SQL on a reader connection: read-only, capped, answered as rows.

The connection string must be a reader's (`Engine.sql_reader_uri`): a login role that owns
nothing, may only CONNECT, use the schemas and SELECT, and belongs to no other role. On
top of that the statement runs inside a transaction this module opens READ ONLY and pins
with a first query (`SET TRANSACTION READ WRITE` and `set_config('transaction_read_only',
…)` are refused once a query ran), so a SECURITY DEFINER function of the agent that writes,
`nextval`, `COPY … FROM` and DML in a CTE all fail with "read-only transaction". The
transaction is always rolled back. Caps: rows and answer bytes (the read stops there and
the server's work is cancelled) and time (the statement timeout, plus a watchdog that
cancels from outside in case the statement changes its own timeout).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .errors import EngineError

#: A first query of the transaction: it takes the snapshot (read-write mode can no longer
#: be set) and checks the session is a reader's: no superuser, member of no role.
GUARD = """
SELECT set_config('statement_timeout', %s, true),
       (SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls
          OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid)
        FROM pg_roles r WHERE r.rolname = session_user),
       current_setting('transaction_read_only')
"""
NOT_A_READER = "the read connection is not a reader's: refused"
TYPES = "SELECT oid::int, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)"


class SqlReadError(EngineError):
    """PostgreSQL refused or failed the statement; `sqlstate` says why (e.g. 25006)."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message, code=sqlstate)
        self.sqlstate = sqlstate


class SqlReadTimeout(SqlReadError):
    """The statement ran past the time cap and was cancelled."""


class ReaderNotGranted(EngineError):
    """The reader may not connect to the database (yet): grant, then try again."""


@dataclass(frozen=True)
class Caps:
    rows: int = 1000
    bytes: int = 1_000_000
    seconds: float = 10.0


@dataclass
class SqlResult:
    columns: list[dict[str, str]] = field(default_factory=list)  # [{name, type}]
    rows: list[list[Any]] = field(default_factory=list)
    truncated: str = ""  # "", "rows" or "bytes": the read stopped at that cap
    status: str = ""  # the server's command tag, e.g. "SELECT 3"
    elapsed_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated or None,
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
        }


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: numbers, text, lists, objects; the rest as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if isinstance(value, decimal.Decimal | uuid.UUID | dt.date | dt.time | dt.timedelta):
        return str(value) if not isinstance(value, dt.date | dt.time) else value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


class _Watchdog:
    """Cancel the connection's statement from another thread once `seconds` passed."""

    def __init__(self, conn: psycopg.Connection[Any], seconds: float) -> None:
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire, args=(conn,))
        self._timer.daemon = True

    def _fire(self, conn: psycopg.Connection[Any]) -> None:
        self.fired = True
        try:
            conn.cancel_safe(timeout=5)
        except Exception:  # the connection ended meanwhile: nothing to cancel
            pass

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def read(uri: str, statement: str, caps: Caps) -> SqlResult:
    """Run `statement` (one statement) as the reader of `uri`, read-only, within `caps`."""
    started = time.monotonic()
    try:
        conn = psycopg.connect(uri, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if "permission denied" in str(exc) or "does not exist" in str(exc):
            raise ReaderNotGranted(str(exc).strip()) from None
        raise SqlReadError(_first_line(exc)) from None
    with conn:
        result = _read_on(conn, statement, caps)
    result.elapsed_ms = int((time.monotonic() - started) * 1000)
    return result


def _read_on(conn: psycopg.Connection[Any], statement: str, caps: Caps) -> SqlResult:
    conn.execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    guard = conn.execute(GUARD, [str(int(caps.seconds * 1000))]).fetchone()
    if guard is None or guard[1] is not False or guard[2] != "on":
        raise SqlReadError(NOT_A_READER)
    result = SqlResult()
    size = 2
    cur = conn.cursor()
    description: list[Any] = []
    with _Watchdog(conn, caps.seconds + 1) as watchdog:
        try:
            # Extended protocol (parameters given): one statement only, by the server too;
            # `%` doubled as psycopg then reads it back to `%` (no placeholders).
            for row in cur.stream(statement.replace("%", "%%"), params=[]):
                description = description or list(cur.description or [])
                values = [jsonable(v) for v in row]
                size += len(json.dumps(values, default=str)) + 1
                if len(result.rows) >= caps.rows or size > caps.bytes:
                    result.truncated = "rows" if len(result.rows) >= caps.rows else "bytes"
                    break
                result.rows.append(values)
        except psycopg.errors.QueryCanceled as exc:
            seconds = f"{caps.seconds:g}"
            if watchdog.fired or "statement timeout" in str(exc):
                raise SqlReadTimeout(
                    f"the statement ran longer than {seconds} s and was cancelled",
                    sqlstate="57014",
                ) from None
            raise SqlReadError(_first_line(exc), sqlstate=exc.sqlstate) from None
        except psycopg.Error as exc:
            raise SqlReadError(_first_line(exc), sqlstate=exc.sqlstate) from None
    description = description or list(cur.description or [])
    result.status = "" if result.truncated else (cur.statusmessage or "")
    oids = [col.type_code for col in description]
    if result.truncated:  # the server may still be sending: stop it, end the session
        conn.cancel_safe(timeout=5)
        conn.close()
        names = {oid: col.type_display for oid, col in zip(oids, description, strict=True)}
    else:
        conn.execute("ROLLBACK")
        names = dict(conn.execute(TYPES, [oids]).fetchall()) if oids else {}
    result.columns = [
        {"name": col.name, "type": str(names.get(col.type_code, col.type_display))}
        for col in description
    ]
    return result


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
