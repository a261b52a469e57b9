"""The demo script: what the "agent" changes in the app database at each version.

Every statement is idempotent, so a step retried after a failure (or a restarted worker)
never fails on work already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkpoints.engines.connect import connect


@dataclass(frozen=True)
class DemoStep:
    number: int
    name: str
    prompt: str
    sql: tuple[str, ...]


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep(0, "Empty app", "", ()),
    DemoStep(
        1,
        "Contact book",
        "Create me a simple contact book app",
        (
            """
            create table if not exists contacts (
                id uuid primary key default gen_random_uuid(),
                name text not null,
                email text not null unique
            )
            """,
            """
            insert into contacts (name, email) values
                ('Ada Lovelace', 'ada@example.com'),
                ('Alan Turing', 'alan@example.com'),
                ('Grace Hopper', 'grace@example.com')
            on conflict (email) do nothing
            """,
        ),
    ),
    DemoStep(
        2,
        "Role and company",
        "Add role and company fields",
        (
            "alter table contacts add column if not exists role text",
            "alter table contacts add column if not exists company text",
            # Filled, so the step shows in the table (and a rollback visibly takes it away).
            """
            update contacts set role = v.role, company = v.company
            from (values
                ('ada@example.com', 'Mathematician', 'Analytical Engine'),
                ('alan@example.com', 'Computer scientist', 'Bletchley Park'),
                ('grace@example.com', 'Rear admiral', 'US Navy')
            ) as v(email, role, company)
            where contacts.email = v.email and contacts.role is null and contacts.company is null
            """,
        ),
    ),
    DemoStep(
        3,
        "Tags",
        "Add ability to add tags to contacts",
        (
            "alter table contacts add column if not exists tags text[] default '{}'",
            """
            update contacts set tags = v.tags
            from (values
                ('ada@example.com', array['math', 'pioneer']),
                ('alan@example.com', array['ai', 'codebreaker']),
                ('grace@example.com', array['compilers', 'navy'])
            ) as v(email, tags)
            where contacts.email = v.email and contacts.tags = '{}'
            """,
        ),
    ),
)

LAST_STEP = DEMO_STEPS[-1].number


def demo_step(number: int) -> DemoStep | None:
    """The step that makes version `number`, or None past the end of the script."""
    if 0 <= number < len(DEMO_STEPS):
        return DEMO_STEPS[number]
    return None


#: The columns of `contacts` each demo step leaves (0: no table yet).
VARIANT_COLUMNS: dict[int, tuple[str, ...]] = {
    1: ("name", "email"),
    2: ("name", "email", "role", "company"),
    3: ("name", "email", "role", "company", "tags"),
}


def variant_of_columns(names: set[str]) -> int:
    """The newest demo step whose columns are all present."""
    best = 0
    for variant, needed in VARIANT_COLUMNS.items():
        if set(needed) <= names:
            best = variant
    return best


def variant_from_connection(conn: Any) -> int:
    """Which demo step the database on `conn` holds, read from its `contacts` columns."""
    rows = conn.execute(
        "select column_name from information_schema.columns"
        " where table_schema = 'public' and table_name = 'contacts'"
    ).fetchall()
    return variant_of_columns({name for (name,) in rows})


def variant_read(uri: str) -> int:
    """Which demo step the database at `uri` holds."""
    with connect(uri, retry_for=5.0, connect_timeout=5) as conn:
        return variant_from_connection(conn)
