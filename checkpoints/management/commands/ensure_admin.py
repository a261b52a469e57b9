"""Create the first account on an empty installation and print its credentials once."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin user with a random password if no user exists yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("Log in with your existing account (more users: /admin/).")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                "\n  First run: an admin account was created. It is shown only this once:\n"
                f"    username: {username}\n    password: {password}\n"
                "  Add more users in the Django admin (/admin/).\n"
            )
        )
