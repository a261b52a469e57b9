"""The one request choke point: every call to the Neon API goes through `NeonHttp.request`.

Retries (REFERENCE.md §2.2-2.4):

- 423 (project locked by a running operation), 429 (rate limited; `Retry-After` honoured),
  503 and connection failures before anything was sent: nothing was applied, so any method
  is retried, with jittered exponential backoff and a cap.
- 502/504/524 and connections dropped after the request was sent: retried blindly only for
  GET, PATCH and DELETE (which are idempotent here). A POST may have been applied, so it is
  never repeated blindly: `post` first looks for what the POST would have made (`recover`)
  and adopts it when found.

The API key never appears in logs, errors or reprs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..errors import EngineError, EngineTransientError
from .answers import error_from_response, response_request_id, retry_after
from .parse import body_of, parsed

logger = logging.getLogger("checkpoints.engines.neon")

USER_AGENT = "checkpoints/0.1"

#: Statuses after which nothing was applied: safe to retry any method.
_RETRY_ANY_METHOD = frozenset({423, 429, 503})
#: Gateway failures: the request may have been applied.
_RETRY_IDEMPOTENT = frozenset({502, 504, 524})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PATCH", "DELETE", "PUT"})
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class AmbiguousRequestError(EngineTransientError):
    """A POST whose outcome is unknown: it may or may not have been applied."""


class NeonHttp:
    """One `httpx.Client` and the retry policy around it. Thread-safe."""

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 8,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        max_retry_after: float = 60.0,
        ambiguous_rounds: int = 3,
        clock_skew: timedelta = timedelta(seconds=60),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.ambiguous_rounds = max(1, ambiguous_rounds)
        self.clock_skew = clock_skew
        self._sleep = sleep
        self._rng = rng
        self._lock = threading.Lock()
        #: HTTP requests sent (every attempt counts): a cheap way to watch API usage.
        self.request_count = 0
        self._client = httpx.Client(
            base_url=api_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout or httpx.Timeout(30.0, connect=5.0, pool=10.0),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"NeonHttp(base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        assert response is not None
        return body_of(response)

    def post[T](
        self,
        path: str,
        *,
        parse: Callable[[dict[str, Any]], T],
        recover: Callable[[datetime], T | None],
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> T:
        """POST at most once per round: after an ambiguous failure, look for the result
        (`recover`) before sending it again."""
        since = datetime.now(UTC) - self.clock_skew
        last: AmbiguousRequestError | None = None
        for round_ in range(self.ambiguous_rounds):
            if round_:
                self._sleep(self.backoff(round_))
            try:
                response = self.request("POST", path, json=json, params=params)
            except AmbiguousRequestError as exc:
                last = exc
                logger.warning(
                    "neon POST %s: outcome unknown (%s); checking whether it was applied",
                    path,
                    exc.message,
                )
                found = recover(since)
                if found is not None:
                    logger.info("neon POST %s had been applied; using its result", path)
                    return found
                continue
            assert response is not None
            return parsed(parse, body_of(response))
        assert last is not None
        raise EngineTransientError(
            f"POST {path} failed {self.ambiguous_rounds} times without an answer: {last.message}",
            status=last.status,
            code=last.code,
            request_id=last.request_id,
        ) from last

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        gone_ok_after_retry: bool = False,
    ) -> httpx.Response | None:
        """Send one request, retrying what is safe; raise typed errors for the rest.

        Returns None only for a DELETE that answered 404 after an earlier attempt may
        already have deleted the resource (`gone_ok_after_retry`)."""
        idempotent = method in _IDEMPOTENT_METHODS
        error: EngineError
        maybe_applied = False
        attempt = 0
        while True:
            attempt += 1
            request_id = str(uuid.uuid4())
            try:
                response = self._send(method, path, params, json, request_id, attempt)
            except _UNSENT as exc:  # nothing reached the server: safe to retry any method
                text = f"cannot reach the Neon API ({type(exc).__name__}) for {method} {path}"
                error = EngineTransientError(text, request_id=request_id)
                self._retry_or_raise(error, attempt, cause=exc)
                continue
            except httpx.TransportError as exc:
                text = f"no answer from the Neon API ({type(exc).__name__}) for {method} {path}"
                if not idempotent:
                    raise AmbiguousRequestError(text, request_id=request_id) from exc
                maybe_applied = True
                error = EngineTransientError(text, request_id=request_id)
                self._retry_or_raise(error, attempt, cause=exc)
                continue
            status = response.status_code
            if status < 300:
                return response
            if status == 404 and gone_ok_after_retry and maybe_applied:
                return None
            error = error_from_response(method, path, response, request_id)
            if status in _RETRY_IDEMPOTENT:
                maybe_applied = True
            if not self._retryable(error, idempotent):
                raise error
            self._retry_or_raise(error, attempt, response)

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        request_id: str,
        attempt: int,
    ) -> httpx.Response:
        started = time.monotonic()
        with self._lock:
            self.request_count += 1
        response = self._client.request(
            method, path, params=params, json=json, headers={"X-Request-ID": request_id}
        )
        elapsed_ms = (time.monotonic() - started) * 1000
        rid = response_request_id(response) or request_id
        logger.debug(
            "neon %s %s -> %s in %.0f ms (request id %s, attempt %s)",
            *(method, path, response.status_code, elapsed_ms, rid, attempt),
        )
        return response

    @staticmethod
    def _retryable(error: EngineError, idempotent: bool) -> bool:
        """Retry, or raise `error` (an AmbiguousRequestError for a POST the server may
        have applied)."""
        status = error.status or 0
        if status in _RETRY_ANY_METHOD:
            return True
        if status in _RETRY_IDEMPOTENT or status >= 500:
            if not idempotent:
                raise AmbiguousRequestError(
                    error.message, status=status, code=error.code, request_id=error.request_id
                )
            return status in _RETRY_IDEMPOTENT
        return False

    def _retry_or_raise(
        self,
        error: EngineError,
        attempt: int,
        response: httpx.Response | None = None,
        cause: BaseException | None = None,
    ) -> None:
        delay = self.backoff(attempt)
        if response is not None:
            hinted = retry_after(response)
            if hinted is not None:
                if hinted > self.max_retry_after:
                    raise error from cause
                delay = hinted
        if attempt >= self.max_attempts:
            raise error from cause
        logger.info("neon: %s; retrying in %.2fs (attempt %s)", error, delay, attempt + 1)
        self._sleep(delay)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, capped."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return ceiling / 2 + self._rng() * ceiling / 2
