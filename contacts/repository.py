"""The contacts repository: reads the schema the app database holds and adapts to it.

The "agent" changes the schema from version to version, so the app never assumes one:
`schema_read` looks at information_schema and picks the matching variant
(0 empty app, 1 name+email, 2 + role/company, 3 + tags). Every call opens a short-lived
connection, so a rollback never waits on idle sessions of ours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import psycopg
from psycopg import errors, sql

from checkpoints.demo import VARIANT_COLUMNS, variant_of_columns
from contacts.db import connect, read_with_retry

TABLE = "contacts"


class EmailTaken(Exception):
    """Another contact already has this email (the unique constraint said so)."""


class ContactNotFound(Exception):
    pass


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class Schema:
    variant: int
    columns: tuple[Column, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def fields(self) -> tuple[str, ...]:
        """The editable fields of this variant."""
        return VARIANT_COLUMNS.get(self.variant, ())

    @property
    def has_table(self) -> bool:
        return bool(self.columns)


@dataclass(frozen=True)
class Contact:
    id: uuid.UUID
    name: str
    email: str
    role: str | None = None
    company: str | None = None
    tags: list[str] = field(default_factory=list)


def schema_from_connection(conn: psycopg.Connection) -> Schema:
    rows = conn.execute(
        """
        select column_name, data_type, is_nullable = 'YES', column_default
        from information_schema.columns
        where table_schema = 'public' and table_name = %s
        order by ordinal_position
        """,
        (TABLE,),
    ).fetchall()
    columns = tuple(
        Column(name, data_type, nullable, default) for name, data_type, nullable, default in rows
    )
    return Schema(variant=variant_of_columns({c.name for c in columns}), columns=columns)


def schema_read(uri: str) -> Schema:
    """The schema the database holds now."""

    def read() -> Schema:
        with connect(uri) as conn:
            return schema_from_connection(conn)

    return read_with_retry(read)


def _select_columns(schema: Schema) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in ("id", *schema.fields))


def _row_to_contact(schema: Schema, row: tuple) -> Contact:
    values = dict(zip(("id", *schema.fields), row, strict=True))
    values["tags"] = list(values.get("tags") or [])
    return Contact(**values)


def contacts_list(uri: str) -> tuple[Schema, list[Contact]]:
    """The schema and every contact, by name."""
    return read_with_retry(lambda: _contacts_list(uri))


def _contacts_list(uri: str) -> tuple[Schema, list[Contact]]:
    with connect(uri) as conn:
        schema = schema_from_connection(conn)
        if schema.variant == 0:
            return schema, []
        query = sql.SQL("select {} from contacts order by name, email").format(
            _select_columns(schema)
        )
        return schema, [_row_to_contact(schema, row) for row in conn.execute(query)]


@dataclass(frozen=True)
class ContactPage:
    schema: Schema
    contacts: list[Contact]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.contacts else 0

    @property
    def last(self) -> int:
        return self.first + len(self.contacts) - 1 if self.contacts else 0


def contacts_page(uri: str, *, page: int = 1, per_page: int = 50) -> ContactPage:
    """The schema, one page of contacts by name (LIMIT/OFFSET) and how many there are.

    A page past the end shows the last one."""
    return read_with_retry(lambda: _contacts_page(uri, page=page, per_page=per_page))


def _contacts_page(uri: str, *, page: int, per_page: int) -> ContactPage:
    with connect(uri) as conn:
        schema = schema_from_connection(conn)
        if schema.variant == 0:
            return ContactPage(schema, [], 0, 1, per_page)
        total = conn.execute("select count(*) from contacts").fetchone()[0]
        page = max(1, min(page, max(1, -(-total // per_page))))
        query = sql.SQL(
            "select {} from contacts order by name, email, id limit %s offset %s"
        ).format(_select_columns(schema))
        rows = conn.execute(query, (per_page, (page - 1) * per_page))
        contacts = [_row_to_contact(schema, row) for row in rows]
        return ContactPage(schema, contacts, total, page, per_page)


def contact_get(uri: str, contact_id: uuid.UUID) -> tuple[Schema, Contact]:
    return read_with_retry(lambda: _contact_get(uri, contact_id))


def _contact_get(uri: str, contact_id: uuid.UUID) -> tuple[Schema, Contact]:
    with connect(uri) as conn:
        schema = schema_from_connection(conn)
        if schema.variant == 0:
            raise ContactNotFound(contact_id)
        query = sql.SQL("select {} from contacts where id = %s").format(_select_columns(schema))
        row = conn.execute(query, (contact_id,)).fetchone()
        if row is None:
            raise ContactNotFound(contact_id)
        return schema, _row_to_contact(schema, row)


def _values(schema: Schema, data: dict) -> dict:
    return {name: data.get(name) or ([] if name == "tags" else None) for name in schema.fields} | {
        "name": data["name"],
        "email": data["email"],
    }


def contact_create(uri: str, *, schema: Schema, data: dict) -> uuid.UUID:
    """Insert a contact with the fields of `schema`; EmailTaken on a duplicate email."""
    values = _values(schema, data)
    query = sql.SQL("insert into contacts ({}) values ({}) returning id").format(
        sql.SQL(", ").join(sql.Identifier(k) for k in values),
        sql.SQL(", ").join(sql.Placeholder(k) for k in values),
    )
    try:
        with connect(uri) as conn:
            return conn.execute(query, values).fetchone()[0]
    except errors.UniqueViolation as exc:
        raise EmailTaken(data["email"]) from exc


def contact_update(uri: str, *, schema: Schema, contact_id: uuid.UUID, data: dict) -> None:
    values = _values(schema, data)
    query = sql.SQL("update contacts set {} where id = {}").format(
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
        ),
        sql.Placeholder("id"),
    )
    try:
        with connect(uri) as conn:
            if conn.execute(query, values | {"id": contact_id}).rowcount == 0:
                raise ContactNotFound(contact_id)
    except errors.UniqueViolation as exc:
        raise EmailTaken(data["email"]) from exc


def contact_delete(uri: str, *, contact_id: uuid.UUID) -> None:
    with connect(uri) as conn:
        conn.execute("delete from contacts where id = %s", (contact_id,))
