"""What a runner verifies before it believes a step: the endpoint answers, and the
database serves the version (schema fingerprint, demo variant, manifest)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from checkpoints import demo
from checkpoints.engines.connect import connect_app as connect
from checkpoints.jobs.failures import JobFailed
from checkpoints.lifecycle import manifest as manifests
from checkpoints.models import Job, Version

ENDPOINT_WAIT_SECONDS = 30.0


VERIFY_FAILED = "Verification failed: the database serves {found}, expected {expected}."


CONTENT_MISMATCH = "Verification failed: the database does not hold {version}: {found}."


def wait_connectable(uri: str, *, deadline: float = ENDPOINT_WAIT_SECONDS) -> None:
    started = time.monotonic()
    while True:
        try:
            with connect(uri) as conn:
                conn.execute("select 1")
            return
        except Exception:
            if time.monotonic() - started > deadline:
                raise
            time.sleep(0.1)


def verify_variant(uri: str, expected: int) -> None:
    found = demo.variant_read(uri)
    if found != expected:
        raise JobFailed(VERIFY_FAILED.format(found=f"v{found}", expected=f"v{expected}"))


_FINGERPRINT_COLUMNS = (
    "SELECT table_schema, table_name, column_name, data_type"
    " FROM information_schema.columns"
    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    " ORDER BY 1, 2, 3"
)


def _fingerprint_of(rows: list[Any]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def schema_fingerprint(uri: str) -> str:
    """A short hash of every table and column: what a restored version must serve again."""
    with connect(uri) as conn:
        return _fingerprint_of(conn.execute(_FINGERPRINT_COLUMNS).fetchall())


def verify_version(uri: str, version: Version) -> None:
    """Check the database serves `version`: its schema fingerprint, else the demo variant,
    and its manifest (tables, columns, row counts and checksums).

    One connection, pipelined: the schema read and the manifest's column read go out in
    one round trip, the manifest's counts in a second (it was two connections, three
    round trips: a connection costs more than the queries here)."""
    expected, known = _fingerprint_expected(version)
    conn = connect(uri)
    try:  # closed, not committed: a read-only transaction needs no COMMIT round trip
        conn.read_only = True
        if not known:  # saved before fingerprints were recorded: a demo version
            found = demo.variant_from_connection(conn)
            if found != version.number:
                raise JobFailed(VERIFY_FAILED.format(found=f"v{found}", expected=version.label))
        with conn.pipeline():
            schema = conn.execute(_FINGERPRINT_COLUMNS) if expected else None
            problems = manifests.manifest_verify(conn, version.manifest) if version.manifest else []
            if schema is not None and _fingerprint_of(schema.fetchall()) != expected:
                raise JobFailed(
                    VERIFY_FAILED.format(found="another schema", expected=version.label)
                )
    finally:
        conn.close()
    if problems:
        raise JobFailed(CONTENT_MISMATCH.format(version=version.label, found="; ".join(problems)))


def _fingerprint_expected(version: Version) -> tuple[str | None, bool]:
    """The schema fingerprint recorded for `version`, and whether any job recorded one: the
    job that saved it, or (an automatic version) the rollback that kept the live state."""
    if (version.labels or {}).get("neon_snapshot"):  # imported from an adopted project's
        return None, True  # snapshot: no job read its schema, nothing to verify against
    jobs = Job.objects.filter(project_id=version.project_id)
    made = jobs.filter(result__version_id=version.pk, result__has_key="fingerprint").first()
    if made is not None:
        return made.result["fingerprint"], True
    kept = jobs.filter(result__kept_version_id=version.pk).first()
    if kept is not None:
        return kept.result.get("kept_fingerprint"), True
    return None, False
