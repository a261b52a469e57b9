"""Version labels: the caller's own key/value pairs set at save (`git_sha`, `agent_run`,
`prompt_id`…), kept with the version, shown on the timeline and used to filter lists.

One set of rules for every door (page, API, MCP, CLI): what a label may hold and how a
`key:value` filter reads.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet

MAX_LABELS = 20
MAX_VALUE = 200
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

LABELS_NOT_OBJECT = "Labels are an object of key: value strings."
LABELS_TOO_MANY = f"At most {MAX_LABELS} labels."
LABEL_KEY = "Label key {key!r}: 1 to 63 letters, digits, _ . or -, starting with a letter or digit."
LABEL_VALUE = f"Label {{key!r}}: the value is a string of at most {MAX_VALUE} characters, "
LABEL_VALUE += "without control characters."
LABEL_FILTER = "Filter by label as key or key:value (e.g. git_sha:3f2a9c1)."


class LabelsInvalid(ValueError):
    """Labels (or a filter) that break the rules; the message says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def labels_clean(raw: Any) -> dict[str, str]:
    """`raw` as labels (a dict of str → str), else `LabelsInvalid`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LabelsInvalid(LABELS_NOT_OBJECT)
    if len(raw) > MAX_LABELS:
        raise LabelsInvalid(LABELS_TOO_MANY)
    for key, value in raw.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise LabelsInvalid(LABEL_KEY.format(key=str(key)[:70]))
        if not isinstance(value, str) or len(value) > MAX_VALUE or _CONTROL.search(value):
            raise LabelsInvalid(LABEL_VALUE.format(key=key))
    return dict(raw)


def labels_parse(pairs: list[str]) -> dict[str, str]:
    """`["git_sha=3f2a", "agent_run=7"]` (the CLI's `--label`) as labels."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise LabelsInvalid(f"Give a label as key=value, not {pair[:70]!r}.")
        labels[key] = value
    return labels_clean(labels)


def labels_filter[M](queryset: QuerySet[M], filters: list[str]) -> QuerySet[M]:
    """Versions whose labels hold every `key:value` (or, with `key` alone, any value)."""
    condition = Q()
    for text in filters:
        key, sep, value = text.partition(":")
        if not _KEY.match(key) or len(value) > MAX_VALUE or _CONTROL.search(value):
            raise LabelsInvalid(LABEL_FILTER)
        condition &= Q(labels__contains={key: value}) if sep else Q(labels__has_key=key)
    return queryset.filter(condition)
