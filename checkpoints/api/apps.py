from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "checkpoints.api"
    label = "api"
    verbose_name = "Agent API"
    default_auto_field = "django.db.models.BigAutoField"
