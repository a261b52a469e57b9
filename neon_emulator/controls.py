"""Test controls of the emulator: faults, failure plans, refusals, rate limits, counts."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from checkpoints.engines.errors import (
    EngineNotFound,
)

from .model import (
    AUTH_MESSAGE,
    DEFAULT_ACCOUNT,
    LOCKED_MESSAGE,
    REFUSALS,
    EmulatedOperation,
    Fault,
    _Reply,
)
from .shapes import (
    _format_seconds,
)

logger = logging.getLogger("neon_emulator.server")


class _Controls:
    def inject(
        self,
        kind: str,
        *,
        path: str = "",
        method: str | None = None,
        count: int = 1,
        status: int = 503,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Fault for the next `count` requests whose path matches the regex `path`.

        kind: "status" (answer `status`; 423 and 429 get Neon's messages), "drop" (close
        the connection without applying the request), "drop_after" (apply it, then close
        the connection without an answer), "slow" (wait `delay` seconds, then answer)."""
        if kind not in ("status", "drop", "drop_after", "slow"):
            raise ValueError(f"unknown fault kind {kind!r}")
        default_message = {423: LOCKED_MESSAGE, 429: "rate limit exceeded"}.get(
            status, "service unavailable"
        )
        fault = Fault(
            kind=kind,
            path=re.compile(path),
            method=method,
            count=count,
            status=status,
            message=message or default_message,
            retry_after=retry_after,
            delay=delay,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_operations(
        self,
        mode: str,
        *,
        action: str | None = None,
        count: int = 1,
        error: str = "injected failure",
    ) -> None:
        """The next `count` operations (of `action`, or any) follow a failure plan:
        RETRY, STAY_FAILED, ERROR, HANG or CANCEL."""
        with self._lock:
            self._op_plans.append((action, mode, count, error))

    def refuse_snapshots(self, reason: str = "quota", *, count: int = 1) -> Fault:
        """The next `count` snapshot creations are refused with Neon's 4xx for `reason`
        ("limit", "quota" or "refused"); nothing is made."""
        status, message = REFUSALS[reason]
        return self.inject(
            "status", path=r"/snapshot$", method="POST", count=count, status=status,
            message=message,
        )  # fmt: skip

    def engine_requests(self, since: int = 0) -> list[tuple[str, str, int]]:
        """Requests answered since index `since` of `requests` (count API calls)."""
        with self._lock:
            return list(self.requests[since:])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._op_plans.clear()

    def operation_finished_at(self, operation_id: str) -> float | None:
        """Wall-clock time (time.time()) at which the operation reports `finished`."""
        op = self._operations.get(operation_id)
        return op.finished_at if op else None

    def project_ids(self) -> list[str]:
        with self._lock:
            return list(self._projects)

    def drop_project(self, project_id: str) -> None:
        """Delete a project behind the API's back (test cleanup); gone already is fine."""
        with self._lock:
            meta = self._projects.pop(project_id, None)
            if meta is None:
                return
            for op_id in meta.operations:
                self._operations.pop(op_id, None)
            try:
                self.backend.project_delete(project_id)
            except EngineNotFound:
                pass

    def project_operations(self, project_id: str) -> list[EmulatedOperation]:
        meta = self._projects.get(project_id)
        return [self._operations[i] for i in meta.operations] if meta else []

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _check_rate(self) -> None:
        if not self.rate_limit:
            return
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= self.rate_window:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                wait = self.rate_window - (now - self._recent[0])
                raise _Reply(429, "rate limit exceeded", {"Retry-After": _format_seconds(wait)})
            self._recent.append(now)

    def _record(self, problems: list[str]) -> None:
        if problems:
            logger.error("emulator schema mismatch: %s", problems)
            self.schema_errors.extend(problems)

    def account_add(self, api_key: str, account: str | None = None) -> str:
        """Accept `api_key` for `account` (a new one by default: its own projects only).
        Once a key is added, keys the emulator does not know are refused."""
        account = account or f"account-{len(set(self._accounts.values())) + 1}"
        with self._lock:
            self._accounts[api_key] = account
            self._revoked.discard(api_key)
        return account

    def key_revoke(self, api_key: str) -> None:
        """The key stops working (401), as when its owner revokes it in Neon's console."""
        with self._lock:
            self._accounts.pop(api_key, None)
            self._revoked.add(api_key)

    def _check_auth(self, handler: Any) -> str:
        """The account of the request's key; 401 for a missing, unknown or revoked key."""
        header = handler.headers.get("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        with self._lock:
            account = self._accounts.get(token)
            if account is not None:
                return account
            open_door = self.api_key is None and not self._accounts and not self._revoked
            if token and token not in self._revoked and (open_door or token == self.api_key):
                return DEFAULT_ACCOUNT
        raise _Reply(401, AUTH_MESSAGE)
