"""Version SQL as PostgreSQL reads it: split and classified by libpg_query (pglast).

The cases are those of issue 14: transaction control hidden after comments, as `END`,
`COMMIT AND CHAIN`, savepoint games; a syntax error named by statement and position; a
10,000-row seed INSERT. Through the module, the services and the API, on the real engine.
"""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import Job
from checkpoints.rules import version_sql
from tests.api_helpers import Api, project_via_api, token_for, version_via_api
from tests.web_fixtures import engine_project_drop, jobs_run_queued, user_make

#: (SQL, statement number refused, what PostgreSQL reads it as). Each would end or split the one
#: transaction the version's SQL runs in, so that a later failure left earlier work behind.
TRANSACTION_CONTROL = [
    ("create table ok1 (id int); /* note */ COMMIT; create table ok2 (); select 1/0", 2, "COMMIT"),
    ("create table ok1 (id int); /**/end; select 1/0", 2, "COMMIT"),
    ("/**/end", 1, "COMMIT"),
    ("-- a comment\n/* another */ commit;", 1, "COMMIT"),
    ("create table ok1 (); COMMIT AND CHAIN; select 1/0", 2, "COMMIT AND CHAIN"),
    ("create table ok1 (); ROLLBACK", 2, "ROLLBACK"),
    ("create table ok1 (); rollback and chain", 2, "ROLLBACK AND CHAIN"),
    ("savepoint s; create table ok1 (); release s", 1, "SAVEPOINT"),
    ("create table ok1 (); release savepoint s", 2, "RELEASE"),
    ("create table ok1 (); rollback to savepoint s", 2, "ROLLBACK TO"),
    ("begin; create table ok1 ()", 1, "BEGIN"),
    ("start transaction isolation level serializable", 1, "START TRANSACTION"),
    ("select 1;\n\n  abort ;", 2, "ROLLBACK"),
    ("prepare transaction 'x'", 1, "PREPARE TRANSACTION"),
    ("commit prepared 'x'", 1, "COMMIT PREPARED"),
]


@pytest.mark.parametrize(("sql", "number", "keyword"), TRANSACTION_CONTROL)
def test_transaction_control_anywhere_is_refused(sql, number, keyword):
    with pytest.raises(version_sql.SqlRefused) as refused:
        version_sql.statements(sql)
    assert f"Statement {number} controls the transaction ({keyword})" in refused.value.message
    assert "nothing was applied" in refused.value.message
    statement = refused.value.message.split(f"Statement {number}: ", 1)[1]
    assert statement in sql and statement.strip()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("", []),
        ("  -- only a comment\n/* and another */ ;;", []),
        ("select 'a;b'; select $$;commit;$$", ["select 'a;b'", "select $$;commit;$$"]),
        ("select 'é'; select 2 /* trailing */", ["select 'é'", "select 2 /* trailing */"]),
        ("create function f() returns int language sql as $$ select 1; $$", None),
        # A DO block cannot commit inside the worker's transaction block: PostgreSQL refuses.
        ("do $$ begin perform 1; end $$", None),
    ],
)
def test_split_follows_the_parser(sql, expected):
    found = version_sql.statements(sql)
    assert found == (expected if expected is not None else [sql])


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1; selec 2; select 3", "Statement 2 has a syntax error at line 1, column 11"),
        (
            "select 'ééé';\nselect 1;\n  selec 2",
            "Statement 3 has a syntax error at line 3, column 3",
        ),
        ("select 1; select 'abc", "Statement 2 has a syntax error at line 1, column 18"),
        ("select 1;; -- x\n;select $$abc", "Statement 2 has a syntax error at line 2, column 9"),
        ("select 1; select (1", "The SQL ends in the middle of statement 2"),
    ],
)
def test_syntax_error_names_statement_and_position(sql, expected):
    with pytest.raises(version_sql.SqlRefused) as refused:
        version_sql.statements(sql)
    assert refused.value.message.startswith(expected), refused.value.message
    assert "Nothing was applied" in refused.value.message


def test_lone_surrogate_is_refused_not_crashed():
    with pytest.raises(version_sql.SqlRefused) as refused:
        version_sql.statements("select '\ud800'")
    assert "character 9" in refused.value.message


def seed_insert(rows: int) -> str:
    values = ",\n".join(f"({i}, 'contact {i}', 'c{i}@example.com')" for i in range(rows))
    return (
        f"create table seed (id int primary key, name text, email text);\n"
        f"insert into seed values\n{values};"
    )


def test_ten_thousand_row_insert_is_one_statement():
    assert len(version_sql.statements(seed_insert(10_000))) == 2


# Through the services and the API, on the real engine ---------------------------------------


@pytest.fixture
def ada(db):
    return user_make("ada")


@pytest.fixture
def api(ada):
    return Api(token_for(ada))


@pytest.fixture
def project(api):
    project = project_via_api(api)
    yield project
    engine_project_drop(project)


def tables(project) -> set[str]:
    uri = services.project_connection_uri(project=project)
    rows = run_sql(uri, "select tablename from pg_tables where schemaname = 'public'")
    return {row[0] for row in rows}


@pytest.mark.django_db
def test_services_refuse_before_anything_runs(ada, project):
    for sql, number, _ in TRANSACTION_CONTROL[:5]:
        with pytest.raises(services.ServiceError) as refused:
            services.version_create(project=project, user=ada, prompt="x", sql=sql)
        assert f"Statement {number} controls the transaction" in refused.value.message
    assert not Job.objects.filter(kind=Job.Kind.CREATE_VERSION).exists()
    assert tables(project) == set() and project.versions.count() == 1


@pytest.mark.django_db
def test_api_refuses_hidden_commit_and_nothing_exists(api, project):
    base = f"projects/{project.pk}/versions"
    for sql in (
        "create table ok1 (id int); /* note */ COMMIT; select 1/0",
        "create table ok1 (id int); /**/end; select 1/0",
    ):
        response = api.post(base, {"prompt": "sneaky", "sql": sql})
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["code"] == "invalid" and "Statement 2 controls" in body["message"]
    jobs_run_queued()
    assert tables(project) == set() and project.versions.count() == 1


@pytest.mark.django_db
def test_api_syntax_error_names_statement(api, project):
    response = api.post(
        f"projects/{project.pk}/versions",
        {"prompt": "typo", "sql": "create table a (id int);\ncreat table b (id int);"},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "Statement 2 has a syntax error at line 2, column 1"
    )


@pytest.mark.django_db
def test_api_ten_thousand_row_seed_insert_works(api, project):
    job = version_via_api(api, project, "Seed contacts", seed_insert(10_000))
    assert job["state"] == "succeeded", job
    uri = services.project_connection_uri(project=project)
    assert run_sql(uri, "select count(*) from seed")[0][0] == 10_000


@pytest.mark.django_db
def test_worker_checks_the_sql_again(ada, project):
    """A queued request that never went through the services (an old row) is still refused."""
    job = services.version_create(project=project, user=ada, prompt="x", sql="create table a ()")
    job.result["request"]["sql"] = "create table ok1 (); commit; select 1/0"
    job.save(update_fields=["result"])
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "controls the transaction" in job.error
    assert tables(project) == set()
