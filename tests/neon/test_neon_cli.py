"""`manage.py neon_accounts`: add a key from an environment variable, list, remove; a bad
key's message; the key never printed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checkpoints.engines.neon import account
from tests.neon.conftest import KEY_B
from tests.web_fixtures import user_make

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("neon_accounts", *args, stdout=out)
    return out.getvalue()


def test_neon_accounts_on_the_command_line(emulator, monkeypatch) -> None:
    user_make("cli-ada")
    monkeypatch.setenv("TEAM_NEON_KEY", "napi_wrong_cli_key")
    with pytest.raises(CommandError) as refused:
        run(
            "--user",
            "cli-ada",
            "--add",
            "Ours",
            "--key-env",
            "TEAM_NEON_KEY",
            "--api-url",
            emulator.url,
        )
    assert str(refused.value) == account.KEY_REFUSED
    monkeypatch.setenv("TEAM_NEON_KEY", KEY_B)
    added = run(
        "--user",
        "cli-ada",
        "--add",
        "Ours",
        "--key-env",
        "TEAM_NEON_KEY",
        "--api-url",
        emulator.url,
        "--snapshot-limit",
        "10",
    )
    assert "Neon account “Ours” added" in added
    listed = run("--user", "cli-ada")
    assert "“Ours”" in listed and "10 snapshots/project (the owner's setting)" in listed
    account_id = added.rsplit("account ", 1)[1].rstrip(")\n")
    assert "removed" in run("--user", "cli-ada", "--remove", account_id)
    assert "has no Neon account" in run("--user", "cli-ada")
    assert KEY_B not in added + listed
