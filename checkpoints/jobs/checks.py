"""What a runner verifies before it believes a step: the endpoint answers, and the
database serves the version (schema fingerprint, demo variant, manifest)."""

from __future__ import annotations

import hashlib
import time

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


def schema_fingerprint(uri: str) -> str:
    """A short hash of every table and column: what a restored version must serve again."""
    with connect(uri) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type"
            " FROM information_schema.columns"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " ORDER BY 1, 2, 3"
        ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def verify_version(uri: str, version: Version) -> None:
    """Check the database serves `version`: its schema fingerprint, else the demo variant."""
    jobs = Job.objects.filter(project_id=version.project_id)
    made = jobs.filter(result__version_id=version.pk, result__has_key="fingerprint").first()
    # An automatic version: the rollback that kept the live state recorded its fingerprint.
    kept = None if made else jobs.filter(result__kept_version_id=version.pk).first()
    fingerprint = made.result["fingerprint"] if made else kept and kept.result["kept_fingerprint"]
    if made is None and kept is None:  # saved before fingerprints were recorded: a demo version
        verify_variant(uri, version.number)
    elif fingerprint and schema_fingerprint(uri) != fingerprint:
        raise JobFailed(VERIFY_FAILED.format(found="another schema", expected=version.label))
    if version.manifest:
        with connect(uri) as conn:
            conn.read_only = True
            problems = manifests.manifest_verify(conn, version.manifest)
        if problems:
            raise JobFailed(
                CONTENT_MISMATCH.format(version=version.label, found="; ".join(problems))
            )
