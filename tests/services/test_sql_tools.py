"""The SQL services' own refusals: one statement, and engines without a reader."""

from __future__ import annotations

import pytest

from checkpoints import connections
from checkpoints.engines.neon import NeonEngine
from checkpoints.models import AgentProject
from checkpoints.services import migrations, sql_tools
from tests.web_fixtures import user_make

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", sql_tools.SQL_EMPTY),
        ("-- nothing", sql_tools.SQL_EMPTY),
        ("select 1; select 2", sql_tools.ONE_STATEMENT.format(count=2)),
        ("commit", "controls the transaction"),
        ("select from where", "syntax error"),
    ],
)
def test_one_statement_refusals(sql, message):
    with pytest.raises(sql_tools.SqlRefused) as refused:
        sql_tools.one_statement(sql)
    assert message in refused.value.message


def test_one_statement_keeps_semicolons_inside_strings():
    assert sql_tools.one_statement("select ';' as x;") == "select ';' as x"


def test_the_neon_engine_answers_not_supported(monkeypatch):
    user = user_make("nina")
    project = AgentProject.objects.create(
        team=user.personal_team, name="On Neon", created_by=user, engine_project_id="p-1"
    )
    engine = NeonEngine("key", api_url="http://127.0.0.1:9/api/v2")  # never called
    monkeypatch.setattr(connections, "engine_for", lambda *, project: engine)
    with pytest.raises(sql_tools.NotSupported):
        sql_tools.sql_run(project=project, user=user, sql="select 1")
    with pytest.raises(sql_tools.NotSupported):
        migrations.migration_prepare(project=project, user=user, sql="select 1")
    engine.close()
