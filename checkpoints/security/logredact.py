"""Keep share-link tokens out of every log: `/s/<token>` is written `/s/[redacted]`.

A share link's token is its only secret, and it is in the URL path, so whatever logs
request lines would keep it: gunicorn's access log (`GunicornLogger`, passed with
`--logger-class` by the launcher), Django's `django.request` warnings ("Gone: /s/…") and
runserver's `django.server` lines (`RedactFilter`, on the handlers in settings.LOGGING).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger

SHARE_PATH = re.compile(r"/s/[^\s\"'?#/&]+")
REDACTED = "/s/[redacted]"


def redact(text: str) -> str:
    return SHARE_PATH.sub(REDACTED, text)


class RedactFilter(logging.Filter):
    """Rewrites a record's message with share tokens redacted (args merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class GunicornLogger(Logger):
    """gunicorn's logger with every access-log atom (request line, path, referrer,
    headers) redacted."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
