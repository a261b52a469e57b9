"""The local engine's cold tier: a snapshot moved into an archive and back, restored from
its archive (rollback and preview), repaired after a crash at each step, and the reflink
mode that keeps everything hot."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineNotSupported
from checkpoints.engines.local import COLD_STEPS, LocalEngine
from checkpoints.engines.local.archive import reflink_supported
from tests.engines.test_local_crash import run_child
from tests.postgres_plugin import engine_url

ROWS = [(i, f"contact {i}") for i in range(50)]


@pytest.fixture
def cold(pg_server, tmp_path):
    engine = LocalEngine(
        engine_url(),
        control_db=f"ckt_{uuid.uuid4().hex[:10]}",
        archive_dir=tmp_path / "cold",
        reflink=False,
    )
    try:
        yield engine
    finally:
        engine.destroy()


def saved(engine: LocalEngine):
    """A project whose live database holds ROWS, a snapshot of it, then other content."""
    made = engine.project_create(name="cold")
    project_id, branch_id = made.project.id, made.branch.id
    uri = engine.connection_uri(project_id)
    run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text)")
    for row in ROWS:
        run_sql(uri, "INSERT INTO contacts VALUES (%s, %s)", row)
    snap = engine.snapshot_create(project_id, branch_id, name="v1").snapshot
    run_sql(uri, "DELETE FROM contacts WHERE id > 9")
    return project_id, branch_id, snap.id, uri


def contents(uri: str) -> list[tuple]:
    return [tuple(r) for r in run_sql(uri, "SELECT id, name FROM contacts ORDER BY id")]


def template_exists(engine: LocalEngine, snapshot_id: str) -> bool:
    with psycopg.connect(engine._control_conninfo, autocommit=True) as conn:
        return bool(
            conn.execute(
                "SELECT 1 FROM snapshots s JOIN pg_database d ON d.datname = s.dbname "
                "WHERE s.id = %s",
                (snapshot_id,),
            ).fetchone()
        )


def archives(engine: LocalEngine) -> list[Path]:
    assert engine.archive_dir is not None
    return sorted(engine.archive_dir.rglob("*.dump*"))


def test_freeze_then_rollback_from_the_archive(cold):
    project_id, branch_id, snapshot_id, uri = saved(cold)
    size = cold.snapshot_freeze(project_id, snapshot_id)
    assert cold.snapshot_tiers(project_id)[snapshot_id] == ("cold", size)
    assert not template_exists(cold, snapshot_id)
    [path] = archives(cold)
    assert path.stat().st_mode & 0o777 == 0o600
    assert 0 < size == path.stat().st_size < 200_000
    [listed] = cold.snapshot_list(project_id)
    assert (listed.tier, listed.full_size) == ("cold", size)

    cold.snapshot_restore(
        project_id, snapshot_id, target_branch_id=branch_id, finalize_restore=True
    )
    assert contents(uri) == ROWS
    run_sql(uri, "INSERT INTO contacts VALUES (999, 'the project role owns the tables')")
    assert cold.snapshot_tiers(project_id)[snapshot_id][0] == "cold"  # still cold, reusable


def test_a_changed_password_does_not_stop_a_cold_load(cold):
    """The archive is loaded by the project's own role (docs/roles.md): the agent changing
    that role's password makes the engine set its own back, then load."""
    project_id, branch_id, snapshot_id, uri = saved(cold)
    cold.snapshot_freeze(project_id, snapshot_id)
    run_sql(uri, "ALTER ROLE CURRENT_USER PASSWORD 'the agent chose this'")
    cold.snapshot_restore(
        project_id, snapshot_id, target_branch_id=branch_id, finalize_restore=True
    )
    assert contents(uri) == ROWS


def test_preview_from_a_cold_snapshot(cold):
    project_id, _, snapshot_id, uri = saved(cold)
    cold.snapshot_freeze(project_id, snapshot_id)
    preview = cold.snapshot_restore(project_id, snapshot_id, name="preview").branch
    cold.endpoint_create(project_id, preview.id)
    assert contents(cold.connection_uri(project_id, branch_id=preview.id)) == ROWS
    assert len(contents(uri)) == 10  # the live database untouched


def test_thaw_brings_it_back_hot(cold):
    project_id, branch_id, snapshot_id, uri = saved(cold)
    cold.snapshot_freeze(project_id, snapshot_id)
    size = cold.snapshot_thaw(project_id, snapshot_id)
    assert cold.snapshot_tiers(project_id)[snapshot_id] == ("hot", size)
    assert template_exists(cold, snapshot_id) and archives(cold) == []
    cold.snapshot_restore(
        project_id, snapshot_id, target_branch_id=branch_id, finalize_restore=True
    )
    assert contents(uri) == ROWS


def test_delete_removes_the_archive(cold):
    project_id, _, snapshot_id, _ = saved(cold)
    cold.snapshot_freeze(project_id, snapshot_id)
    assert archives(cold)
    cold.snapshot_delete(project_id, snapshot_id)
    assert archives(cold) == []


def test_a_warm_copied_snapshot_stays_hot(cold):
    project_id, _, snapshot_id, _ = saved(cold)
    cold.warm_up(project_id)
    with pytest.raises(Exception, match="warm copy"):
        cold.snapshot_freeze(project_id, snapshot_id)
    assert cold.snapshot_tiers(project_id)[snapshot_id][0] == "hot"


def _settled(engine: LocalEngine, project_id: str, snapshot_id: str) -> str:
    """After recover(): one whole tier, nothing half-done; returns the tier."""
    tier, _ = engine.snapshot_tiers(project_id)[snapshot_id]
    assert tier in ("hot", "cold")
    if tier == "cold":
        assert not template_exists(engine, snapshot_id) and len(archives(engine)) == 1
    else:
        assert template_exists(engine, snapshot_id) and archives(engine) == []
    return tier


@pytest.mark.parametrize("step", COLD_STEPS)
def test_killed_at_each_tier_step(cold, pg_server, step):
    project_id, branch_id, snapshot_id, uri = saved(cold)
    if step.startswith("thaw"):
        cold.snapshot_freeze(project_id, snapshot_id)
    run_child(
        cold,
        engine_url(),
        step=step,
        call="freeze" if step.startswith("freeze") else "thaw",
        project_id=project_id,
        snapshot_id=snapshot_id,
        archive_dir=str(cold.archive_dir),
    )
    cold.recover()
    expected = {
        "freeze_intent_recorded": "hot",
        "freeze_archived": "hot",
        "freeze_recorded": "cold",
        "thaw_intent_recorded": "cold",
        "thaw_loaded": "cold",
        "thaw_recorded": "hot",
    }[step]
    assert _settled(cold, project_id, snapshot_id) == expected
    cold.snapshot_restore(
        project_id, snapshot_id, target_branch_id=branch_id, finalize_restore=True
    )
    assert contents(uri) == ROWS


def test_reflink_mode_keeps_everything_hot(pg_server, tmp_path):
    engine = LocalEngine(
        engine_url(),
        control_db=f"ckt_{uuid.uuid4().hex[:10]}",
        archive_dir=tmp_path,
        reflink=True,
    )
    try:
        assert engine.storage_mode == "reflink"
        project_id, _, snapshot_id, _ = saved(engine)
        with pytest.raises(EngineNotSupported):
            engine.snapshot_freeze(project_id, snapshot_id)
    finally:
        engine.destroy()


def test_reflink_detected_on_a_loop_mounted_xfs(tmp_path):
    if not shutil.which("mkfs.xfs"):
        pytest.skip("mkfs.xfs is not installed (apt-get install xfsprogs)")
    image, mount = tmp_path / "xfs.img", tmp_path / "mnt"
    mount.mkdir()
    with image.open("wb") as handle:
        handle.truncate(320 * 1024 * 1024)
    made = subprocess.run(
        ["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    mounted = subprocess.run(
        ["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {mounted.stderr.strip()}")
    try:
        assert reflink_supported(mount)
        assert not (mount / ".checkpoints-reflink-probe").exists()
    finally:
        subprocess.run(["umount", str(mount)], check=False)
