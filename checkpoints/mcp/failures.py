"""Refusals an agent can act on: the API's stable codes, as MCP tool errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.http import Http404
from pydantic import ValidationError

from checkpoints import services
from checkpoints.engines.errors import EngineError
from checkpoints.mcp.auth import Unauthorized
from checkpoints.paging import PageInvalid
from checkpoints.refusals import Refusal, engine_refusal, service_refusal
from checkpoints.shapes.fields import NUL, Request, said


class ToolFailure(Exception):
    """A refusal the agent can act on: a stable code (as in /api/v1) and a message."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def arguments_invalid(error: ValidationError) -> ToolFailure:
    """A tool's arguments that do not fit its input schema, as the API's `invalid`: per
    argument the sentence the API gives for the same value (`shapes.fields.said`; never the
    rejected values: they are the caller's data)."""
    return invalid(said(Request, error))


def invalid(details: dict[str, str]) -> ToolFailure:
    """`invalid` with per-argument sentences, also summed up in the message."""
    text = "; ".join(f"{field}: {message.rstrip('.')}" for field, message in details.items())
    return ToolFailure("invalid", f"Invalid arguments: {text}.", details=details)


def _from_refusal(error: Refusal) -> ToolFailure:
    extra = {**error.extra, **({"details": error.details} if error.details else {})}
    return ToolFailure(error.code, error.message, **extra)


def _nul_refused(kwargs: dict[str, Any]) -> None:
    """A tool argument holding NUL (`\\u0000` in JSON) is the agent's to fix: a tool error
    naming it, never an unhandled error deeper down. Most arguments refuse NUL as their
    type (`shapes.fields`); this catches the rest, answering the same way."""
    for name, value in kwargs.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(item, str) and "\x00" in item for item in values):
            raise invalid({name: NUL})


def guarded[T](call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `call` with fresh database connections; refusals become `ToolFailure`."""
    _nul_refused(kwargs)
    close_old_connections()
    try:
        return call(*args, **kwargs)
    except ToolFailure:
        raise
    except Refusal as error:
        raise _from_refusal(error) from None
    except Unauthorized as error:
        raise ToolFailure(error.code, error.message) from None
    except Http404:
        raise ToolFailure("not_found", "Not found.") from None
    except PageInvalid as error:
        message = " ".join(f"{name}: {text}" for name, text in error.details.items())
        raise ToolFailure("invalid", message) from None
    except services.ServiceError as error:
        raise _from_refusal(service_refusal(error)) from None
    except EngineError as error:
        raise _from_refusal(engine_refusal(error)) from None
    finally:
        close_old_connections()


def wait_limit() -> float:
    """How long a tool waits for its job before answering with the job id to poll."""
    return float(settings.CHECKPOINTS_MCP_WAIT_SECONDS)
