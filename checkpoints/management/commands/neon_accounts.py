"""`manage.py neon_accounts`: a team's Neon accounts from the command line (owners).

    manage.py neon_accounts --user ada [--team 7]                  # list (never a key)
    manage.py neon_accounts --user ada --add "Ours" --key-env NEON_KEY [--api-url U]
                            [--org-id O] [--snapshot-limit 10]
    manage.py neon_accounts --user ada --remove 12                 # forget the key

The key is read from the environment variable named by --key-env, so it never appears in
the shell's history or the process list. Without --team: the user's personal team.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from checkpoints import services
from checkpoints.services import neon_accounts, teams
from checkpoints.signals import team_personal_for


class Command(BaseCommand):
    help = "List, add or remove a team's Neon accounts (their keys are never shown)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True)
        parser.add_argument("--team", type=int)
        parser.add_argument("--add", metavar="NAME")
        parser.add_argument("--key-env", metavar="VAR", help="environment variable of the key")
        parser.add_argument("--api-url", default="")
        parser.add_argument("--org-id", default="")
        parser.add_argument("--snapshot-limit", default="")
        parser.add_argument("--remove", type=int, metavar="ACCOUNT")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']}.")
        try:
            team = (
                teams.team_get(user=user, pk=options["team"])
                if options["team"]
                else team_personal_for(user=user)
            )
            self.stdout.write(self._act(user, team, options))
        except services.ServiceError as error:
            raise CommandError(error.message) from None
        except Http404:
            raise CommandError(f"Team {options['team']} is not one of yours.") from None

    def _act(self, user, team, options) -> str:
        if options["add"] is not None:
            key = os.environ.get(options["key_env"] or "", "")
            made = neon_accounts.neon_account_add(
                user=user,
                team=team,
                name=options["add"],
                api_key=key,
                org_id=options["org_id"],
                api_url=options["api_url"],
                snapshot_limit=options["snapshot_limit"],
            )
            return neon_accounts.ADDED.format(name=made.name) + f" (account {made.pk})"
        if options["remove"] is not None:
            connection = neon_accounts.neon_account_get(team=team, pk=options["remove"])
            return neon_accounts.neon_account_remove(user=user, connection=connection)
        rows = []
        for account in neon_accounts.neon_accounts_of(team=team):
            limit = f"{account.limit} snapshots/project ({account.limit_source})"
            state = f" – {account.unusable}" if account.unusable else ""
            rows.append(
                f"{account.pk} “{account.name}” {account.server} "
                f"{account.project_count} projects, {limit}{state}"
            )
        return "\n".join(rows) or f"Team “{team.name}” has no Neon account."
