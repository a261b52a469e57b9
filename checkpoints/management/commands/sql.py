"""`manage.py sql query|schema|prepare|apply|discard`: SQL reads and migrations tried on a
copy, the same services as the API and MCP, jobs run to completion in this process.

    manage.py sql query --project 3 --sql "select * from contacts" [--version 1] [--json]
    manage.py sql schema --project 3 [--version 1]
    manage.py sql prepare --project 3 --sql-file add_phone.sql [--prompt "Add a phone"]
    manage.py sql apply --project 3 --migration 7      # live kept first: `versions undo`
    manage.py sql discard --project 3 --migration 7
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from checkpoints.management.job_run import job_run
from checkpoints.management.project_command import ProjectCommand
from checkpoints.models import AgentProject, Job, MigrationTrial, Version
from checkpoints.services import migrations, sql_tools

MIGRATION_NOT_FOUND = "Project {project} has no migration {id}."
SQL_MISSING = "Give the SQL with --sql or --sql-file."
SQL_FILE_UNREADABLE = "Cannot read the SQL file {path}: {error}"


class Command(ProjectCommand):
    help = "Read a project's database with SQL; try migrations on a copy, then apply them."

    def add_actions(self, action) -> None:
        for name, text in (
            ("query", "Run one read-only statement; print its rows."),
            ("prepare", "Try a migration on a fresh copy of the live database."),
        ):
            sub = action(name, text)
            sub.add_argument("--sql", help="The SQL.")
            sub.add_argument("--sql-file", type=Path, help="Read the SQL from this file.")
            if name == "query":
                sub.add_argument("--version", type=int, dest="number", help="Read this version.")
            else:
                sub.add_argument("--prompt", default="", help="What it does, in words.")
        schema = action("schema", "Tables, columns, keys, indexes and row estimates.")
        schema.add_argument("--version", type=int, dest="number", help="Of this version.")
        for name, text in (
            ("apply", "Apply a prepared migration to live as one new version."),
            ("discard", "Drop a migration's copy without applying it."),
        ):
            action(name, text).add_argument("--migration", type=int, required=True)

    # Actions -----------------------------------------------------------------------------

    def _query(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._maybe_version(project, options["number"])
        data = sql_tools.sql_run(
            project=project, user=user, sql=self._sql(options), version=version
        )
        if self.as_json:
            return self._print_json(data)
        header = tuple(c["name"] for c in data["columns"])
        self._print_table(header, [tuple(str(v) for v in row) for row in data["rows"]])
        cut = f", truncated at the {data['truncated']} cap" if data["truncated"] else ""
        self.stdout.write(f"({data['row_count']} rows from {data['read_on']}{cut})")

    def _schema(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._maybe_version(project, options["number"])
        data = sql_tools.schema_describe(project=project, user=user, version=version)
        if self.as_json:
            return self._print_json(data)
        for table in data["tables"]:
            self.stdout.write(f"{table['schema']}.{table['name']} ({table['kind']}, "
                              f"~{table['row_estimate']} rows)")  # fmt: skip
            for column in table["columns"]:
                null = "" if column["nullable"] else " not null"
                self.stdout.write(f"  {column['name']} {column['type']}{null}")
            for key in table["keys"]:
                self.stdout.write(f"  {key['type']}: {key['definition']}")

    def _prepare(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        trial, job = migrations.migration_prepare(
            project=project, user=user, sql=self._sql(options), prompt=options["prompt"]
        )
        self._run(job)
        trial.refresh_from_db()
        if self.as_json:
            return self._print_json(migrations.migration_json(trial))
        self.stdout.write(f"Migration {trial.pk} tried on a copy: it {trial.summary}.")
        self.stdout.write(f"Apply it: manage.py sql apply --project {project.pk} "
                          f"--migration {trial.pk}")  # fmt: skip

    def _apply(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        trial = self._migration(project, options["migration"])
        job = self._run(migrations.migration_apply(trial=trial, user=user))
        version = Version.objects.get(pk=job.result["version_id"])
        if self.as_json:
            return self._print_json(
                migrations.migration_json(MigrationTrial.objects.get(pk=trial.pk))
            )
        self.stdout.write(f"Applied migration {trial.pk}: saved {version.label} “{version.name}” "
                          "(the live state before it was kept: `versions undo` puts it back).")  # fmt: skip

    def _discard(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        trial = self._migration(project, options["migration"])
        trial = migrations.migration_discard(trial=trial, user=user)
        if self.as_json:
            return self._print_json(migrations.migration_json(trial))
        self.stdout.write(f"Discarded migration {trial.pk}.")

    # Helpers -----------------------------------------------------------------------------

    def _sql(self, options: dict[str, Any]) -> str:
        if options["sql_file"] is not None:
            try:
                return options["sql_file"].read_text()
            except OSError as error:
                path = options["sql_file"]
                raise CommandError(SQL_FILE_UNREADABLE.format(path=path, error=error)) from None
        if not options["sql"]:
            raise CommandError(SQL_MISSING)
        return options["sql"]

    def _maybe_version(self, project: AgentProject, number: int | None) -> Version | None:
        return None if number is None else self._version(project, number)

    def _migration(self, project: AgentProject, pk: int) -> MigrationTrial:
        trial = project.migrations.filter(pk=pk).first()
        if trial is None:
            raise CommandError(MIGRATION_NOT_FOUND.format(project=project.pk, id=pk))
        return trial

    def _run(self, job: Job) -> Job:
        """Run the job here; if a worker claimed it first, wait for the worker."""
        return job_run(job)
