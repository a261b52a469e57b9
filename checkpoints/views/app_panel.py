"""The app panel of the project and preview pages, supplied by a plug-in.

The versioned app (the contact book) depends on `checkpoints`, never the other way
round, so the core finds what its App and schema tabs show through a setting:
`CHECKPOINTS_APP_PANEL`, the dotted path of a function called with keyword arguments
`project`, and `preview` / `schema_only` / `can_edit` / `page` as a tab needs, that
returns the context of the app's templates (`contacts/_contacts_app.html`,
`contacts/_schema.html`: `{"app": {...}}`). Without the setting the panels say the app
is not there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

SETTING = "CHECKPOINTS_APP_PANEL"


@cache
def _panel(path: str) -> Callable[..., dict[str, Any]]:
    return import_string(path)


def app_panel_context(**kwargs: Any) -> dict[str, Any]:
    """The plug-in's context for the app panel, or `{}` when none is configured."""
    path = settings.CHECKPOINTS_APP_PANEL
    return _panel(path)(**kwargs) if path else {}
