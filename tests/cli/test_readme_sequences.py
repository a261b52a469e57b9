"""The README's command-line sequences, run as written (project 1 is a new project at v0,
as the README says; only its id is this test's)."""

from __future__ import annotations

import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import AgentProject
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def _block_after(marker: str) -> list[str]:
    """The lines of the first ```sh block after `marker` in the README."""
    text = README.read_text().split(marker, 1)[1]
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _run(line: str, project: AgentProject, folder: Path) -> str:
    """One README line: `echo '…' > file` writes the file; `python manage.py …` runs the
    command in this process (its comment dropped, project 1 → this test's project)."""
    echo = re.fullmatch(r"echo '(.*)' > (\S+)", line)
    if echo:
        (folder / echo[2]).write_text(echo[1] + "\n")
        return ""
    words = shlex.split(line, comments=True)
    assert words[:3] == ["python", "manage.py", "versions"], line
    args = [
        str(project.pk) if w == "1" and words[i - 1] == "--project" else w
        for i, w in enumerate(words)
    ]
    args = [str(folder / a) if a.endswith(".sql") else a for a in args]
    out = StringIO()
    call_command(*args[2:], stdout=out)
    return out.getvalue()


def test_the_scripts_and_ci_sequence_runs_as_written(tmp_path):
    user = user_make("ci")
    job = services.project_create(user=user, name="Readme")
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    try:
        lines = _block_after("The same from scripts and CI")
        outputs = {line: _run(line, project, tmp_path) for line in lines}
        uri = services.project_connection_uri(project=project)
        # restore-tables gave `orders` back as in v1 (empty); the preview serves v2.
        assert run_sql(uri, "SELECT count(*) FROM orders") == [(0,)]
        preview = next(out for line, out in outputs.items() if " preview " in line)
        assert run_sql(preview.strip(), "SELECT count(*) FROM orders") == [(2,)]
        listed = next(out for line, out in outputs.items() if " list " in line)
        assert "Add orders" in listed and "Two orders" in listed
    finally:
        engine_project_drop(project)
