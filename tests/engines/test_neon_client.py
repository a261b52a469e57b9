"""NeonEngine unit tests over httpx.MockTransport: scripted answers, recorded requests.

End-to-end behaviour over real HTTP is in test_neon_emulator.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from checkpoints.engines import neon_from_settings
from checkpoints.engines.errors import (
    EngineError,
    EngineInvalidRequest,
    EngineLocked,
    EngineNotFound,
    EngineTransientError,
)
from checkpoints.engines.neon import USER_AGENT, NeonEngine

API_KEY = "napi_unit_test_secret_0123456789abcdef"
PASSWORD = "npg_SuperSecretPassword42"
URL = "https://neon.test/api/v2"
NOW = "2025-01-16T21:02:04Z"
LOCKED = "project already has running conflicting operations, scheduling of new ones is prohibited"

Handler = Callable[[httpx.Request], httpx.Response]


def op(op_id: str, status: str = "running", action: str = "create_branch", **extra) -> dict:
    return {
        "id": op_id,
        "project_id": "p-1",
        "branch_id": "br-new",
        "action": action,
        "status": status,
        "failures_count": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "total_duration_ms": 0,
        **extra,
    }


def branch(branch_id: str, name: str = "main", **extra) -> dict:
    return {
        "id": branch_id,
        "project_id": "p-1",
        "name": name,
        "current_state": "ready",
        "state_changed_at": NOW,
        "creation_source": "console",
        "default": name == "main",
        "protected": False,
        "cpu_used_sec": 0,
        "active_time_seconds": 0,
        "compute_time_seconds": 0,
        "written_data_bytes": 0,
        "data_transfer_bytes": 0,
        "created_at": NOW,
        "updated_at": NOW,
        **extra,
    }


def snapshot(snap_id: str, name: str, created_at: str | None = None) -> dict:
    return {
        "id": snap_id,
        "name": name,
        "source_branch_id": "br-main",
        "created_at": created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "manual": True,
    }


def error(status: int, message: str, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        json={"request_id": "req-from-neon", "code": "", "message": message},
        headers=headers,
    )


class Script:
    """A MockTransport handler answering from a list of (matcher, response) steps."""

    def __init__(self, *steps: tuple[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.method} {request.url.path}"
        for index, (prefix, answer) in enumerate(self.steps):
            if key.startswith(prefix):
                del self.steps[index]
                return answer(request)
        raise AssertionError(f"unexpected request {key}")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_engine(sleeps: list[float]) -> Callable[[Handler], NeonEngine]:
    engines: list[NeonEngine] = []

    def make(handler: Handler, **kwargs) -> NeonEngine:
        engine = NeonEngine(
            API_KEY,
            api_url=URL,
            transport=httpx.MockTransport(handler),
            sleep=sleeps.append,
            rng=lambda: 0.5,
            **kwargs,
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def ok(body: dict, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


def project_body() -> dict:
    return {
        "project": {"id": "p-1", "name": "agent", "region_id": "aws-us-east-2", "created_at": NOW},
        "connection_uris": [],
        "roles": [{"branch_id": "br-main", "name": "app_owner"}],
        "databases": [{"id": 1, "branch_id": "br-main", "name": "app", "owner_name": "app_owner"}],
        "operations": [op("op-1", action="create_timeline"), op("op-2", "scheduling")],
        "branch": branch("br-main"),
        "endpoints": [
            {
                "id": "ep-1",
                "project_id": "p-1",
                "branch_id": "br-main",
                "host": "ep-1.neon.test",
                "type": "read_write",
                "current_state": "init",
            }
        ],
    }


def test_headers_auth_and_parsing(make_engine) -> None:
    script = Script(
        ("POST /api/v2/projects", ok(project_body(), 201)),
        (
            "GET /api/v2/projects/p-1/connection_uri",
            ok({"uri": f"postgresql://app_owner:{PASSWORD}@ep-1.neon.test/app"}),
        ),
    )
    engine = make_engine(script)
    created = engine.project_create(name="agent")
    assert created.project.id == "p-1"
    assert created.branch.id == "br-main" and created.branch.is_root and created.branch.default
    assert created.endpoint.id == "ep-1"
    assert [o.id for o in created.operations] == ["op-1", "op-2"]
    assert created.operations[0].created_at == datetime(2025, 1, 16, 21, 2, 4, tzinfo=UTC)

    sent = json.loads(script.requests[0].content)
    assert sent["project"]["name"] == "agent"
    assert sent["project"]["branch"]["name"] == "main"
    headers = script.requests[0].headers
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["user-agent"] == USER_AGENT
    assert headers["accept"] == "application/json"
    assert headers["x-request-id"]

    # Database and role names were learned at creation: one call for the URI.
    uri = engine.connection_uri("p-1", branch_id="br-main")
    assert uri.endswith("@ep-1.neon.test/app")
    params = script.requests[1].url.params
    assert (params["database_name"], params["role_name"], params["branch_id"]) == (
        "app",
        "app_owner",
        "br-main",
    )
    assert engine.request_count == 2


def test_connection_uri_cold_uses_the_names_it_creates_projects_with(make_engine) -> None:
    script = Script(
        ("GET /api/v2/projects/p-1/connection_uri", ok({"uri": "postgresql://a:b@h/d"}))
    )
    engine = make_engine(script)
    engine.connection_uri("p-1")
    params = script.requests[0].url.params
    assert (params["database_name"], params["role_name"]) == ("neondb", "neondb_owner")
    assert "branch_id" not in params
    assert engine.request_count == 1


def test_connection_uri_looks_up_unknown_names_once(make_engine) -> None:
    databases = {"databases": [{"id": 1, "branch_id": "br-x", "name": "app",
                                "owner_name": "app_owner", "created_at": NOW, "updated_at": NOW}]}  # fmt: skip
    script = Script(
        # br-x is not known to be the default branch: asked once (a preview has its own role)
        ("GET /api/v2/projects/p-1/branches/br-x", ok({"branch": branch("br-x")})),
        ("GET /api/v2/projects/p-1/connection_uri", lambda r: error(404, "database not found")),
        ("GET /api/v2/projects/p-1/branches/br-x/databases", ok(databases)),
        ("GET /api/v2/projects/p-1/connection_uri", ok({"uri": "postgresql://a:b@h/app"})),
        ("GET /api/v2/projects/p-1/connection_uri", ok({"uri": "postgresql://a:b@h/app"})),
    )
    engine = make_engine(script)
    engine.connection_uri("p-1", branch_id="br-x")
    engine.connection_uri("p-1", branch_id="br-x")
    assert engine.request_count == 5
    assert script.requests[-1].url.params["database_name"] == "app"


def test_429_honours_retry_after(make_engine, sleeps) -> None:
    script = Script(
        ("GET /api/v2/projects/p-1", lambda r: error(429, "rate limit", {"Retry-After": "2"})),
        ("GET /api/v2/projects/p-1", ok(project_body())),
    )
    engine = make_engine(script)
    assert engine.project_get("p-1").name == "agent"
    assert sleeps == [2.0]
    assert len(script.requests) == 2


def test_429_with_a_too_long_retry_after_gives_up(make_engine, sleeps) -> None:
    script = Script(
        ("GET /api/v2/projects/p-1", lambda r: error(429, "slow down", {"Retry-After": "600"})),
    )
    with pytest.raises(EngineTransientError) as info:
        make_engine(script).project_get("p-1")
    assert info.value.status == 429
    assert sleeps == []


def test_423_then_success_on_a_post(make_engine, sleeps) -> None:
    restored = {"branch": branch("br-new", restored_from="snap-1", restored_as="br-main"),
                "operations": [op("op-9")]}  # fmt: skip
    script = Script(
        ("POST /api/v2/projects/p-1/snapshots/snap-1/restore", lambda r: error(423, LOCKED)),
        ("POST /api/v2/projects/p-1/snapshots/snap-1/restore", lambda r: error(423, LOCKED)),
        ("POST /api/v2/projects/p-1/snapshots/snap-1/restore", ok(restored)),
    )
    engine = make_engine(script)
    result = engine.snapshot_restore(
        "p-1", "snap-1", target_branch_id="br-main", finalize_restore=True
    )
    assert result.branch.id == "br-new"
    assert result.orphan_branch_id == "br-main"
    assert [o.id for o in result.operations] == ["op-9"]
    assert json.loads(script.requests[0].content) == {
        "finalize_restore": True,
        "target_branch_id": "br-main",
    }
    # Jittered exponential backoff: 0.25 then 0.5 ceilings, half fixed + half random (0.5).
    assert sleeps == [pytest.approx(0.1875), pytest.approx(0.375)]


def test_423_forever_raises_engine_locked(make_engine, sleeps) -> None:
    script = Script(*[("POST /api/v2/projects/p-1/endpoints", lambda r: error(423, LOCKED))] * 3)
    engine = make_engine(script, max_attempts=3)
    with pytest.raises(EngineLocked) as info:
        engine.endpoint_create("p-1", "br-main")
    assert info.value.status == 423
    assert LOCKED in info.value.message
    assert len(sleeps) == 2


def test_backoff_is_capped(make_engine) -> None:
    engine = make_engine(Script(), backoff_initial=1.0, backoff_max=4.0)
    assert [engine._backoff(n) for n in range(1, 6)] == [0.75, 1.5, 3.0, 3.0, 3.0]


def test_503_twice_then_success_on_a_post(make_engine, sleeps) -> None:
    created = {"snapshot": snapshot("snap-1", "v1"), "operations": [op("op-1")]}
    script = Script(
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", lambda r: error(503, "busy")),
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", lambda r: error(503, "busy")),
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", ok(created)),
    )
    engine = make_engine(script)
    result = engine.snapshot_create("p-1", "br-main", name="v1")
    assert result.snapshot.id == "snap-1"
    assert len(sleeps) == 2
    assert script.requests[0].url.params["name"] == "v1"


def test_connect_error_is_retried_for_a_post(make_engine, sleeps) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    created = {"snapshot": snapshot("snap-1", "v1"), "operations": []}
    script = Script(
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", refuse),
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", ok(created)),
    )
    assert make_engine(script).snapshot_create("p-1", "br-main", name="v1").snapshot.id == "snap-1"


def test_dropped_post_that_was_applied_is_not_repeated(make_engine) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    script = Script(
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", drop),
        (
            "GET /api/v2/projects/p-1/snapshots",
            ok(
                {
                    "snapshots": [
                        snapshot("snap-old", "v1", created_at="2020-01-01T00:00:00Z"),
                        snapshot("snap-1", "v1"),
                    ]
                }
            ),
        ),  # fmt: skip
        (
            "GET /api/v2/projects/p-1/operations",
            ok(
                {
                    "operations": [
                        op("op-1", "running", action="create_snapshot", branch_id="br-main"),
                        op("op-0", "finished"),
                    ],
                    "pagination": {"cursor": NOW},
                }
            ),
        ),  # fmt: skip
    )
    engine = make_engine(script)
    result = engine.snapshot_create("p-1", "br-main", name="v1")
    assert result.snapshot.id == "snap-1"  # the one just made, not an old namesake
    assert [o.id for o in result.operations] == ["op-1"]
    assert [r.method for r in script.requests] == ["POST", "GET", "GET"]


def test_502_on_post_not_applied_is_sent_again(make_engine) -> None:
    created = {"snapshot": snapshot("snap-2", "v2"), "operations": []}
    script = Script(
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", lambda r: error(502, "bad gw")),
        ("GET /api/v2/projects/p-1/snapshots", ok({"snapshots": []})),
        ("POST /api/v2/projects/p-1/branches/br-main/snapshot", ok(created)),
    )
    engine = make_engine(script)
    assert engine.snapshot_create("p-1", "br-main", name="v2").snapshot.id == "snap-2"
    assert [r.method for r in script.requests] == ["POST", "GET", "POST"]


def test_dropped_restore_is_recovered_from_restored_from(make_engine) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    script = Script(
        ("POST /api/v2/projects/p-1/snapshots/snap-1/restore", drop),
        (
            "GET /api/v2/projects/p-1/branches",
            ok(
                {
                    "branches": [
                        branch("br-main", name="main (old)"),
                        branch(
                            "br-new",
                            restored_from="snap-1",
                            restored_as="br-main",
                            created_at=datetime.now(UTC).isoformat(),
                        ),
                    ]
                }
            ),
        ),  # fmt: skip
        ("GET /api/v2/projects/p-1/operations", ok({"operations": [], "pagination": {}})),
    )
    engine = make_engine(script)
    result = engine.snapshot_restore(
        "p-1", "snap-1", target_branch_id="br-main", finalize_restore=True
    )
    assert result.branch.id == "br-new"
    assert result.orphan_branch_id == "br-main"


def test_get_502_is_retried_but_500_is_not(make_engine, sleeps) -> None:
    script = Script(
        ("GET /api/v2/projects/p-1", lambda r: error(502, "bad gateway")),
        ("GET /api/v2/projects/p-1", ok(project_body())),
        ("GET /api/v2/projects/p-2", lambda r: error(500, "boom")),
    )
    engine = make_engine(script)
    engine.project_get("p-1")
    with pytest.raises(EngineTransientError) as info:
        engine.project_get("p-2")
    assert info.value.status == 500
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, EngineNotFound),
        (400, EngineInvalidRequest),
        (409, EngineInvalidRequest),
        (412, EngineInvalidRequest),
        (422, EngineInvalidRequest),
        (401, EngineError),
        (403, EngineError),
    ],
)
def test_errors_are_typed(make_engine, status, cls) -> None:
    script = Script(("GET /api/v2/projects/p-1/branches/br-x", lambda r: error(status, "nope")))
    with pytest.raises(cls) as info:
        make_engine(script).branch_get("p-1", "br-x")
    exc = info.value
    assert type(exc) is cls
    assert (exc.status, exc.request_id) == (status, "req-from-neon")
    assert exc.code is None  # Neon sends "" in every real error body
    assert "nope" in exc.message and "req-from-neon" in str(exc)


def test_non_json_error_page(make_engine) -> None:
    script = Script(
        ("GET /api/v2/projects/p-1", lambda r: httpx.Response(524, text="<html>cloudflare")),
        ("GET /api/v2/projects/p-1", lambda r: httpx.Response(401, text="<html>")),
    )
    with pytest.raises(EngineError) as info:
        make_engine(script).project_get("p-1")
    assert info.value.status == 401


def test_unexpected_body_is_an_engine_error(make_engine) -> None:
    script = Script(("GET /api/v2/projects/p-1", ok({"project": {"id": "p-1"}})))
    with pytest.raises(EngineError, match="unexpected"):
        make_engine(script).project_get("p-1")


def test_operations_get_uses_one_list_call(make_engine) -> None:
    script = Script(
        ("GET /api/v2/projects/p-1/operations/op-3", ok({"operation": op("op-3", "finished")})),
        (
            "GET /api/v2/projects/p-1/operations",
            ok(
                {
                    "operations": [op("op-2", "finished"), op("op-1", "running"), op("op-x")],
                    "pagination": {"cursor": NOW},
                }
            ),
        ),  # fmt: skip
    )
    engine = make_engine(script)
    ops = engine.operations_get("p-1", ["op-1", "op-2", "op-3"])
    assert [(o.id, o.status) for o in ops] == [
        ("op-1", "running"),
        ("op-2", "finished"),
        ("op-3", "finished"),
    ]
    assert engine.request_count == 2
    assert script.requests[0].url.params["limit"] == "50"


def test_branch_delete_204_and_delete_after_dropped_answer(make_engine) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset")

    script = Script(
        ("DELETE /api/v2/projects/p-1/branches/br-gone", lambda r: httpx.Response(204)),
        ("DELETE /api/v2/projects/p-1/snapshots/snap-1", drop),
        ("DELETE /api/v2/projects/p-1/snapshots/snap-1", lambda r: error(404, "not found")),
    )
    engine = make_engine(script)
    assert engine.branch_delete("p-1", "br-gone") == []
    assert engine.snapshot_delete("p-1", "snap-1") == []


def test_point_in_time_snapshot_params(make_engine) -> None:
    created = {"snapshot": snapshot("snap-1", "at"), "operations": []}
    script = Script(("POST /api/v2/projects/p-1/branches/br-main/snapshot", ok(created)))
    engine = make_engine(script)
    assert engine.supports_point_in_time
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    engine.snapshot_create("p-1", "br-main", name="at", timestamp=when)
    assert script.requests[0].url.params["timestamp"] == "2025-01-02T03:04:05Z"
    with pytest.raises(EngineInvalidRequest):
        engine.snapshot_create("p-1", "br-main", lsn="0/1", timestamp=when)


def test_secrets_never_leak(make_engine, caplog) -> None:
    caplog.set_level(logging.DEBUG)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    script = Script(
        ("GET /api/v2/projects/p-1/connection_uri", ok({"uri": f"postgresql://u:{PASSWORD}@h/db"})),
        (
            "GET /api/v2/projects/p-1",
            lambda r: error(400, f"bad uri postgresql://u:{PASSWORD}@h/db key {API_KEY[:0]}"),
        ),  # fmt: skip
        ("GET /api/v2/projects/p-1", lambda r: error(429, "slow", {"Retry-After": "0"})),
        ("GET /api/v2/projects/p-1", lambda r: error(401, "supplied credentials do not pass")),
        ("POST /api/v2/projects/p-1/endpoints", drop),
        ("GET /api/v2/projects/p-1/branches/br-1/endpoints", ok({"endpoints": []})),
        ("POST /api/v2/projects/p-1/endpoints", lambda r: error(409, "exists")),
    )
    engine = make_engine(script, database_name="db", role_name="u")
    engine._conn_params["p-1"] = ("db", "u")
    texts = [repr(engine), str(engine.__dict__)]
    engine.connection_uri("p-1")
    for _ in range(2):
        with pytest.raises(EngineError) as info:
            engine.project_get("p-1")
        texts += [str(info.value), repr(info.value), info.value.message]
    with pytest.raises(EngineError) as info:
        engine.endpoint_create("p-1", "br-1")
    texts += [str(info.value), repr(info.value)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert caplog.records, "expected some log records"
    blob = "\n".join(texts)
    assert API_KEY not in blob
    assert PASSWORD not in blob
    assert "********" in blob  # the password in the error message was masked


def test_from_settings(settings) -> None:
    settings.NEON_API_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="NEON_API_KEY"):
        neon_from_settings()
    settings.NEON_API_KEY = API_KEY
    settings.NEON_API_URL = "https://example.test/api/v2/"
    settings.NEON_ORG_ID = "org-1"
    with neon_from_settings() as engine:
        assert engine.api_url == "https://example.test/api/v2"
        assert engine.org_id == "org-1"
        assert API_KEY not in repr(engine)
