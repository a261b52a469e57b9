"""The demo script: what the "agent" changes in the app database at each version.

Every statement is idempotent, so a step retried after a failure (or a restarted worker)
never fails on work already done.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        ),
    ),
    DemoStep(
        3,
        "Tags",
        "Add ability to add tags to contacts",
        ("alter table contacts add column if not exists tags text[] default '{}'",),
    ),
)

LAST_STEP = DEMO_STEPS[-1].number


def demo_step(number: int) -> DemoStep | None:
    """The step that makes version `number`, or None past the end of the script."""
    if 0 <= number < len(DEMO_STEPS):
        return DEMO_STEPS[number]
    return None
