"""The tests never touch an installation's data folder: `make run`'s team servers and cold
archives are named by team and connection ids, which the tests' own ids repeat (a test
deleting its team 1 once deleted `make run`'s team server 1)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from checkpoints.product_settings import BASE_DIR
from tests.postgres_plugin import DATA_DIR


def test_the_run_has_a_data_folder_of_its_own():
    installation = (BASE_DIR / ".data").resolve()
    for folder in (
        settings.DATA_DIR,
        settings.CHECKPOINTS_TEAM_SERVERS_DIR,
        settings.CHECKPOINTS_COLD_DIR,
    ):
        folder = Path(folder).resolve()
        assert folder.is_relative_to(DATA_DIR.resolve()), folder
        assert not folder.is_relative_to(installation), folder
