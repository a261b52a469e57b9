"""A grown contacts app of a chosen size, built inside an app database.

Shaped like what an agent would have built by v3 and beyond: contacts with tags, companies,
and an interactions log with free text, plus the indexes such an app would carry.
"""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS companies (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    domain text NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    role text,
    company_id bigint REFERENCES companies(id),
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS contacts_name_idx ON contacts (name);
CREATE INDEX IF NOT EXISTS contacts_tags_idx ON contacts USING gin (tags);
CREATE TABLE IF NOT EXISTS interactions (
    id bigserial PRIMARY KEY,
    contact_id uuid NOT NULL REFERENCES contacts(id),
    kind text NOT NULL,
    happened_at timestamptz NOT NULL,
    body text NOT NULL
);
CREATE INDEX IF NOT EXISTS interactions_contact_idx ON interactions (contact_id, happened_at);
CREATE TABLE IF NOT EXISTS bench_marker (id int PRIMARY KEY, value int NOT NULL);
INSERT INTO bench_marker VALUES (1, 0) ON CONFLICT DO NOTHING;
"""

COMPANIES = """
INSERT INTO companies (name, domain)
SELECT 'Company ' || g, 'company' || g || '.example'
FROM generate_series(1, 200) AS g ON CONFLICT DO NOTHING
"""

# One batch: 1,000 contacts and 10,000 interactions (about 4.5 MB with indexes).
BATCH = """
WITH new_contacts AS (
    INSERT INTO contacts (name, email, role, company_id, tags)
    SELECT 'Person ' || g || '-' || %(batch)s,
           'person' || g || '-' || %(batch)s || '@example.com',
           (ARRAY['engineer','founder','designer','analyst'])[1 + g %% 4],
           1 + (g %% 200),
           ARRAY['customer', 'batch-' || %(batch)s]
    FROM generate_series(1, 1000) AS g
    RETURNING id
)
INSERT INTO interactions (contact_id, kind, happened_at, body)
SELECT c.id,
       (ARRAY['call','email','meeting'])[1 + n %% 3],
       now() - (n || ' hours')::interval,
       repeat(md5(c.id::text || n), 6)
FROM new_contacts AS c, generate_series(1, 10) AS n
"""


def build_app_database(uri: str, size_mb: float) -> int:
    """Fill the database at `uri` until it holds about `size_mb`; return its size in bytes."""
    target = int(size_mb * 1024 * 1024)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(COMPANIES)
        batch = 0
        while _size(conn) < target:
            batch += 1
            conn.execute(BATCH, {"batch": batch})
        conn.execute("VACUUM ANALYZE")
        return _size(conn)


def set_marker(uri: str, value: int) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("UPDATE bench_marker SET value = %s WHERE id = 1", [value])


def read_marker(uri: str) -> int:
    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute("SELECT value FROM bench_marker WHERE id = 1").fetchone()[0]


def _size(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
