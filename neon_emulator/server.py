"""A Neon API v2 emulator over real HTTP, backed by any `Engine` (the local engine, or the
in-memory `FakeBackend`).

The backend does the real work at request time; the emulator reports Neon's shapes and
Neon's timing on top of it:

- operations move `scheduling -> running -> finished` over `op_duration` seconds (only the
  reported status is delayed), or follow an injected failure plan (`fail_operations`);
- a mutation that would start operations while another operation of the project is not
  terminal gets 423 with Neon's exact message;
- 429 with `Retry-After` past `rate_limit` requests per `rate_window` seconds;
- on-demand faults (`inject`): an error status for the next N matching requests, slow
  answers, connections dropped before or after the request was applied;
- Neon's limits: at most `snapshot_limit` manual snapshots per project (422, nothing
  made), unique snapshot names (409), and `refuse_snapshots` for a quota or any other
  4xx on the next snapshots;
- optional checking of every exchange against the OpenAPI subset (`checker`).

Only the subset of the API that `checkpoints.engines.neon.NeonEngine` uses is served.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError

from .connections import _Connections
from .controls import _Controls
from .model import (
    BASE_PATH,
    EmulatedOperation,
    Fault,
    _ProjectMeta,
    _Reply,
)
from .operations import _Operations
from .projects import _Projects
from .routes import _Routes
from .shapes import (
    _engine_error_status,
    _error,
    _format_seconds,
)
from .snapshots import _Snapshots

logger = logging.getLogger(__name__)


class NeonEmulator(_Controls, _Routes, _Projects, _Snapshots, _Connections, _Operations):
    """Serve the Neon API subset on 127.0.0.1 over HTTP. Use as a context manager."""

    def __init__(
        self,
        backend: Engine,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        op_duration: float = 0.2,
        op_durations: dict[str, float] | None = None,
        retry_delay: float | None = None,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        checker: Any = None,
        clock: Callable[[], float] = time.time,
        snapshot_limit: int | None = None,
    ) -> None:
        self.backend = backend
        #: Manual snapshots a project may hold (None: no limit); change it at any time.
        self.snapshot_limit = snapshot_limit
        self.api_key = api_key
        self.op_duration = op_duration
        self.op_durations = dict(op_durations or {})
        self.retry_delay = retry_delay
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.checker = checker
        self.clock = clock
        self.schema_errors: list[str] = []
        #: (method, path, status) of every answered request, in order.
        self.requests: list[tuple[str, str, int]] = []
        #: API key -> account (`account_add`): each account sees only its own projects.
        self._accounts: dict[str, str] = {}
        self._revoked: set[str] = set()
        self._caller: str | None = None
        self._faults: list[Fault] = []
        self._op_plans: list[tuple[str | None, str, int, str]] = []
        self._projects: dict[str, _ProjectMeta] = {}
        self._operations: dict[str, EmulatedOperation] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The NEON_API_URL to give a client."""
        return f"http://{self._server.server_address[0]}:{self.port}{BASE_PATH}"

    def start(self) -> NeonEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="neon-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NeonEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- HTTP entry

    def handle(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request_id = handler.headers.get("X-Request-ID") or str(uuid.uuid4())

        fault = self._take_fault(method, path)
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault and fault.kind == "drop":
            self._drop(handler, method, path)
            return

        if not path.startswith(BASE_PATH):
            self._send(handler, method, path, 404, _error("not found", request_id), request_id)
            return
        api_path = path[len(BASE_PATH) :] or "/"
        status, payload, headers = self._answer(
            handler, fault, method, api_path, query, raw, request_id
        )

        if self.checker is not None:
            self._record(self.checker.check_response(method, api_path, status, payload))
        if fault and fault.kind == "drop_after":
            self._drop(handler, method, path)
            return
        self._send(handler, method, api_path, status, payload, request_id, headers)

    def _answer(
        self,
        handler: _Handler,
        fault: Fault | None,
        method: str,
        api_path: str,
        query: dict[str, str],
        raw: bytes,
        request_id: str,
    ) -> tuple[int, Any, dict[str, str]]:
        """Status, JSON payload and headers of the answer (Neon's error body on failure)."""
        try:
            account = self._check_auth(handler)
            self._check_rate()
            if fault and fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = _format_seconds(fault.retry_after)
                raise _Reply(fault.status, fault.message, headers)
            body = json.loads(raw) if raw else None
            if self.checker is not None and body is not None:
                self._record(self.checker.check_request(method, api_path, body))
            with self._lock:
                self._caller = account  # whose projects this request may see
                status, payload = self._dispatch(method, api_path, query, body)
            return status, payload, {}
        except _Reply as reply:
            return reply.status, _error(reply.message, request_id), reply.headers
        except EngineError as exc:
            return _engine_error_status(exc), _error(exc.message, request_id), {}
        except json.JSONDecodeError:
            return 400, _error("invalid request: bad JSON", request_id), {}

    def _drop(self, handler: _Handler, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path, 0))
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(
        self,
        handler: _Handler,
        method: str,
        path: str,
        status: int,
        payload: Any,
        request_id: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.requests.append((method, path, status))
        data = b"" if payload is None else json.dumps(payload).encode()
        handler.send_response(status)
        if payload is not None:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-neon-ret-request-id", request_id)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if data:
            handler.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "neon-emulator"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    def _any(self) -> None:
        self.server.emulator.handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: " + format, *args)
