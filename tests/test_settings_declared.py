"""Settings declared once: the README's configuration table, the environment variables the
settings read, and the settings the code reads agree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from checkpoints import product_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILES = [
    ROOT / "checkpoints" / "product_settings.py",
    ROOT / "checkpoints" / "settings.py",
]
# Read by the launcher (`make run`), not by Django's settings.
LAUNCH_FILES = [ROOT / "checkpoints" / "launcher.py"]
ENV_READ = re.compile(r"""(?:environ\.get|environ\[|env_bool|env_list)\(?\s*"([A-Z][A-Z0-9_]+)\"""")
SETTING_READ = re.compile(r"\bsettings\.((?:CHECKPOINTS|NEON)_[A-Z0-9_]+)")
OWN = re.compile(r"^(CHECKPOINTS|NEON)_")


def _readme_table() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_column))
    return names


def _env_read(files: list[Path]) -> set[str]:
    return {name for path in files for name in ENV_READ.findall(path.read_text())}


def test_the_readme_table_lists_only_variables_something_reads():
    table = _readme_table()
    assert len(table) > 30
    unread = table - _env_read(SETTINGS_FILES + LAUNCH_FILES)
    assert not unread, f"documented but read by nothing: {sorted(unread)}"


def test_every_own_variable_the_settings_read_is_in_the_readme_table():
    own = {name for name in _env_read(SETTINGS_FILES) if OWN.match(name)}
    undocumented = own - _readme_table()
    assert not undocumented, f"read but not in README's table: {sorted(undocumented)}"


def test_every_setting_the_code_reads_is_declared_once_without_scattered_defaults():
    declared = {name for name in vars(product_settings) if OWN.match(name)}
    code = [
        path
        for path in (ROOT / "checkpoints").rglob("*.py")
        if path.name not in {"settings.py", "product_settings.py"}
        and "migrations" not in path.parts
    ]
    read: set[str] = set()
    for path in code:
        source = path.read_text()
        assert "getattr(settings," not in source, f"{path}: read settings.X, declared once"
        read |= set(SETTING_READ.findall(source))
    assert read, "the scan found no settings reads"
    missing = {name for name in read if name not in declared and not hasattr(settings, name)}
    assert not missing, f"read but never declared: {sorted(missing)}"
    # Each declared one has its value in Django's settings (settings.py imports them all).
    assert all(hasattr(settings, name) for name in declared)


def test_the_documented_variables_set_their_settings():
    """Setting the variables the README documents changes what the app reads."""
    env = {
        **os.environ,
        "CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH": "true",
        "CHECKPOINTS_CLEANUP_INTERVAL_MINUTES": "5",
        "CHECKPOINTS_MANIFEST_HASH_MAX_BYTES": "1024",
        "CHECKPOINTS_COLD_DIR": "/srv/cold",
    }
    code = (
        "from checkpoints import product_settings as s; print(s.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH,"
        " s.CHECKPOINTS_CLEANUP_INTERVAL_MINUTES, s.CHECKPOINTS_MANIFEST_HASH_MAX_BYTES,"
        " s.CHECKPOINTS_COLD_DIR)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["True", "5", "1024", "/srv/cold"], result.stderr
    assert product_settings.CHECKPOINTS_ROLLBACK_KEEP_OLD_BRANCH is False  # the default
