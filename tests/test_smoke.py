import psycopg


def test_server_answers(pg_server):
    with psycopg.connect(pg_server.url()) as conn:
        assert (
            conn.execute("select current_setting('server_version_num')::int").fetchone()[0]
            >= 180000
        )
