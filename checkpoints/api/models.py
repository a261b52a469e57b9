"""Per-user API tokens. Only a SHA-256 hash of each token is stored, never the token."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="The visible start of the token, for lookup."
    )
    token_hash = models.CharField(max_length=64, help_text="sha256 hex of the whole token.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    #: Reads only: every write (API method other than GET, MCP tool that changes
    #: something) answers 403 `read_only_token`.
    read_only = models.BooleanField(default=False)
    #: Whether `reveal=true` may show a connection string's password (masked otherwise).
    can_reveal = models.BooleanField(default=True)
    #: When not empty, the only projects the token reaches (others answer 404).
    projects = models.ManyToManyField("checkpoints.AgentProject", blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
