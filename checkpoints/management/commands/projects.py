"""`manage.py projects create|list|show|connection|previews|delete`: projects from scripts
and CI, the same services and answers (`--json`) as the API and MCP.

    manage.py projects create --user ada --name "Todo app" [--team 2] [--connection 5]
    manage.py projects list --user ada --json
    manage.py projects show --project 3
    manage.py projects connection --project 3    # the full string: this is the server's shell
    manage.py projects previews --project 3      # its live previews
    manage.py projects delete --project 3
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checkpoints import doorframe, services
from checkpoints.management.job_run import job_run
from checkpoints.management.project_command import ProjectCommand, Refused
from checkpoints.models import AgentProject, Membership, Team
from checkpoints.paging import page_of
from checkpoints.refusals import Refusal
from checkpoints.rules import permissions, selectors
from checkpoints.serialize import preview_json, project_json

TEAM_NOT_FOUND = "Team {id} is not one of your teams."


class Command(ProjectCommand):
    help = "Create, list, show and delete agent projects; print a connection string."

    def add_actions(self, action) -> None:
        create = action("create", "Create a project: its database and an empty v0.", project=False)
        create.add_argument("--name", required=True, help="The project's name.")
        create.add_argument("--team", type=int, help="A team of the user (default: personal).")
        create.add_argument("--connection", type=int, help="One of the team's engine connections.")
        action("list", "The projects the user can reach, newest first.", paged=True, project=False)
        action("show", "One project: team, role, engine, current version.")
        action("connection", "Print the project's connection string (it never changes).")
        action("previews", "The project's live previews, newest first.", paged=True)
        action("delete", "Delete the project for good (owners).")

    def _create(self, project: None, user, options: dict[str, Any]) -> None:
        team = None
        if options["team"] is not None:
            team = Team.objects.filter(pk=options["team"], memberships__user=user).first()
            if team is None:
                message = TEAM_NOT_FOUND.format(id=options["team"])
                raise Refused(Refusal(400, "invalid", message, {"team": message}))
        job = services.project_create(
            user=user, name=options["name"], team=team, connection_id=options["connection"]
        )
        job = job_run(job)
        if self.as_json:
            self._print_json(doorframe.job_answer(job, user=user, token=None))
        else:
            self.stdout.write(f"Project {job.project_id} “{options['name']}” is ready at v0.")

    def _list(self, project: None, user, options: dict[str, Any]) -> None:
        roles = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        listed = selectors.projects_for(user).order_by("-created_at", "-pk")
        page = page_of(listed, self._page_request(options))
        if self.as_json:
            items = [project_json(p, role=roles.get(p.team_id)) for p in page.items]
            self._print_json(doorframe.page_answer(replace(page, items=items)))
            return
        rows = [(str(p.pk), p.name, p.team.name, roles.get(p.team_id) or "") for p in page.items]
        self._print_table(("id", "name", "team", "role"), rows)
        self._print_page_footer("projects", page)

    def _show(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        body = project_json(project, role=permissions.role_for(user, project))
        if self.as_json:
            self._print_json(body)
            return
        at = f"v{body['current_version']}" if body["current_version"] is not None else "not ready"
        self.stdout.write(f"Project {project.pk} “{project.name}” ({body['team']['name']}), {at}.")

    def _connection(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        permissions.require(user, project, "connection_uri")
        body = doorframe.connection_answer(project, token=None, reveal=True)
        if self.as_json:
            self._print_json(body)
        else:
            self.stdout.write(body["connection_uri"])

    def _previews(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        live = selectors.previews_live(project=project).order_by("-created_at", "-pk")
        page = page_of(live, self._page_request(options))
        if self.as_json:
            items = [preview_json(p) for p in page.items]
            self._print_json(doorframe.page_answer(replace(page, items=items)))
            return
        rows = [(str(p.pk), p.version.label, f"{p.expires_at:%Y-%m-%d %H:%M}") for p in page.items]
        self._print_table(("preview", "version", "expires (UTC)"), rows)
        self._print_page_footer("previews", page)

    def _delete(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        gone = project_json(project, role=permissions.role_for(user, project))
        services.project_delete(project=project, user=user)
        if self.as_json:
            self._print_json(gone)
        else:
            self.stdout.write(f"Deleted project {gone['id']} “{gone['name']}”.")
