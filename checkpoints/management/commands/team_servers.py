"""`manage.py team_servers`: where each team's projects live, and an admin's pin.

    manage.py team_servers                          # each team: connections, projects, server
    manage.py team_servers --pin TEAM HOST:PORT     # TEAM's new projects go to that server
    manage.py team_servers --remove TEAM            # stop TEAM's embedded server, delete it

`--pin` takes one of CHECKPOINTS_EXTERNAL_SERVERS (by host:port, never its URL): the team's
projects made from then on live there; those it has stay where they are. `--remove`
stops a team's embedded server and deletes its folder, refused while a project lives there.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from checkpoints import services
from checkpoints.models import EngineConnection, Team
from checkpoints.servers import teamservers
from checkpoints.servers.engine_connections import servers_mode
from checkpoints.services.team_connections import team_server_pin, team_server_retire


class Command(BaseCommand):
    help = "List where each team's projects live, or pin a team to an external server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pin", nargs=2, metavar=("TEAM", "HOST:PORT"))
        parser.add_argument("--remove", metavar="TEAM")

    def handle(self, *args, pin: list[str] | None = None, **options) -> None:
        if options.get("remove"):
            self._remove(options["remove"])
            return
        if pin:
            team = Team.objects.filter(pk=int(pin[0]) if pin[0].isdigit() else -1).first()
            if team is None:
                raise CommandError(f"Team {pin[0]} does not exist.")
            try:
                made = team_server_pin(team=team, server=pin[1])
            except services.ServiceError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"Team {team.pk} “{team.name}”: new projects go to {made.server}.")
            return
        root = settings.CHECKPOINTS_TEAM_SERVERS_DIR
        running = set(teamservers.running(root)) if root.exists() else set()
        self.stdout.write(f"Mode: {servers_mode()} (CHECKPOINTS_SERVERS)")
        rows = EngineConnection.objects.select_related("team").annotate(count=Count("projects"))
        for row in rows:
            state = ""
            if row.kind == EngineConnection.Kind.EMBEDDED:
                state = " running" if row.team_id in running else " stopped"
            default = " (default)" if row.is_default else ""
            self.stdout.write(
                f"team {row.team_id} “{row.team.name}”: {row.name} [{row.kind}{state}] "
                f"{row.server} – {row.count} projects{default}"
            )

    def _remove(self, raw: str) -> None:
        team = Team.objects.filter(pk=int(raw) if raw.isdigit() else -1).first()
        if team is None:
            raise CommandError(f"Team {raw} does not exist.")
        try:
            removed = team_server_retire(team=team)
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        said = "stopped and its folder deleted" if removed else "none to remove"
        self.stdout.write(f"Team {team.pk} “{team.name}”: embedded server {said}.")
