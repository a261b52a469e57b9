"""`manage.py versions create|list|diff|plan|rollback|restore-tables|undo|preview|discard|
rename|pin|unpin|delete`: the API's and MCP's verbs for scripts and CI.

Each action calls the same service as the web pages and the API, then runs the job to
completion in this process (`tasks.job_execute`); if a worker claimed it first, it waits for
the worker. Failures exit non-zero with the job's error.

    manage.py versions create --project 3 --prompt "Add orders" --sql-file orders.sql
    manage.py versions rollback --project 3 --version 1
    manage.py versions restore-tables --project 3 --version 2 --table contacts
    manage.py versions undo --project 3                    # undo the last rollback
    manage.py versions preview --project 3 --version 2     # prints the connection string
    manage.py versions list --project 3 --json --page 2 --per-page 100
    manage.py versions create --project 3 --prompt "…" --label git_sha=3f2a9c1
    manage.py versions create --project 3 --timestamp 2026-05-01T10:32:05Z  # as of then
    manage.py versions list --project 3 --label git_sha:3f2a9c1
    manage.py versions diff --project 3 --from 1 --to 2
    manage.py versions plan --project 3 --version 1        # what a rollback would change
    manage.py versions discard --project 3 --preview 4

With `--json` each prints what the API and MCP answer: a job (with the version or preview
it made), a page of versions, a diff, a plan, or `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from django.core.management.base import CommandError

from checkpoints import doorframe, services
from checkpoints.management.job_run import job_run
from checkpoints.management.project_command import ProjectCommand
from checkpoints.management.version_actions import version_actions
from checkpoints.models import AgentProject, Job, Version
from checkpoints.paging import page_of
from checkpoints.rules.version_labels import LabelsInvalid, labels_parse
from checkpoints.serialize import version_json
from checkpoints.services import history

SQL_FILE_UNREADABLE = "Cannot read the SQL file {path}: {error}"


class Command(ProjectCommand):
    help = "Create, roll back, preview and list versions of an agent project."

    def add_actions(self, action) -> None:
        version_actions(action)

    # Actions -----------------------------------------------------------------------------

    def _create(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        if options["timestamp"] or options["lsn"]:
            job = history.version_create_as_of(
                project=project, user=user, timestamp=options["timestamp"], lsn=options["lsn"],
                name=options["name"] or "", prompt=options["prompt"] or "",
            )  # fmt: skip
            job = self._run(job)
            self._print_version(project, Version.objects.get(pk=job.result["version_id"]), job)
            return
        if not options["prompt"]:
            raise CommandError("--prompt is required (unless --timestamp or --lsn).")
        sql = None
        if options["sql_file"] is not None:
            try:
                sql = options["sql_file"].read_text()
            except OSError as error:
                raise CommandError(
                    SQL_FILE_UNREADABLE.format(path=options["sql_file"], error=error)
                ) from None
        try:
            labels = labels_parse(options["labels"])
        except LabelsInvalid as error:
            raise CommandError(error.message) from None
        job = services.version_create(
            project=project,
            user=user,
            prompt=options["prompt"],
            sql=sql,
            name=options["name"],
            labels=labels,
        )
        job = self._run(job)
        version = Version.objects.get(pk=job.result["version_id"])
        self._print_version(project, version, job)

    def _rollback(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        job = self._run(services.version_rollback(project=project, version=version, user=user))
        self._print_version(project, version, job)

    def _restore_tables(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        job = services.version_tables_restore(
            version=version,
            user=user,
            tables=options["tables"],
            include_dependencies=options["include_dependencies"],
        )
        job = self._run(job)
        if self._job_json(job, user):
            return
        rows = job.result.get("rows", {})
        self.stdout.write(
            f"Restored {len(rows)} table(s) from {version.label} in {job.duration_ms} ms"
            + (
                f"; the live state was kept as {job.result['kept_label']}."
                if job.result.get("kept_label")
                else "."
            )
        )
        self._print_table(("table", "rows"), [(k, str(n)) for k, n in sorted(rows.items())])

    def _undo(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        job = self._run(services.rollback_undo(project=project, user=user))
        assert job.target_version is not None
        self._print_version(project, job.target_version, job)

    def _preview(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        job = self._run(services.preview_open(project=project, version=version, user=user))
        assert job.preview is not None
        if not self._job_json(job, user):
            self.stdout.write(services.preview_connection_uri(preview=job.preview))

    def _discard(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        preview = self._preview_of(project, options["preview_id"])
        job = self._run(services.preview_discard(preview=preview, user=user))
        if not self._job_json(job, user):
            self.stdout.write(f"Discarded preview {preview.pk} of {preview.version.label}.")

    def _diff(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        old, new = self._version(project, options["old"]), self._version(project, options["new"])
        self._diff_print(doorframe.diff_answer(old, new), f"{old.label} → {new.label}")

    def _plan(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        plan = doorframe.plan_answer(project, version)
        self._diff_print(plan, f"Rolling back to {version.label}")

    def _pin(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        self._version_print(project, services.version_pin, user, options)

    def _unpin(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        self._version_print(project, services.version_unpin, user, options)

    def _rename(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        rename = partial(services.version_rename, name=options["name"])
        self._version_print(project, rename, user, options)

    def _version_print(self, project: AgentProject, use_case, user, options) -> None:
        version = use_case(version=self._version(project, options["number"]), user=user)
        body = version_json(version, current_id=project.current_version_id)
        pinned = " (pinned)" if version.pinned else ""
        self.stdout.write(json.dumps(body, indent=2) if self.as_json else
                          f"{version.label} “{version.name}”{pinned}.")  # fmt: skip

    def _delete(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        job = self._run(services.version_delete(version=version, user=user))
        if not self._job_json(job, user):
            self.stdout.write(f"Deleted {version.label} “{version.name}”.")

    def _list(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        versions = doorframe.versions_listed(project, labels=options["labels"])
        current = project.current_version_id
        asked = self._page_request(options)
        if self.as_json:
            page = page_of(versions, asked, lambda v: version_json(v, current_id=current))
            self._print_page_json(page)
            return
        page = page_of(versions, asked)
        rows = [
            (
                ("* " if v.pk == current else "  ") + v.label,
                v.name + (" [automatic]" if v.automatic else ""),
                f"{v.created_at:%Y-%m-%d %H:%M:%S}",
                v.parent.label if v.parent else "",
                v.prompt.splitlines()[0][:60] if v.prompt else "",
                " ".join(f"{k}={value}" for k, value in sorted(v.labels.items()))[:80],
            )
            for v in page.items
        ]
        header = ("version", "name", "created (UTC)", "parent", "prompt", "labels")
        self._print_table(header, rows)
        self._print_page_footer("versions", page)

    # Jobs --------------------------------------------------------------------------------

    def _run(self, job: Job) -> Job:
        """Run the job here; if a worker claimed it first, wait for the worker."""
        return job_run(job)

    def _print_version(self, project: AgentProject, version: Version, job: Job) -> None:
        if self._job_json(job, job.created_by):
            return
        verb = "Rolled back to" if job.kind == Job.Kind.ROLLBACK else "Saved"
        if (job.result.get("request") or {}).get("undo"):
            verb = "Undid the rollback: back to"
        self.stdout.write(f"{verb} {version.label} “{version.name}” in {job.duration_ms} ms.")
        self._print_table(
            ("step", "state", "ms", "detail"),
            [
                (s["name"], s["state"], str(s.get("duration_ms", "")), s["detail"][:60])
                for s in job.step_rows
            ],
        )
