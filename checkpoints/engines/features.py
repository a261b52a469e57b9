"""What an engine may offer beyond Neon's control plane (mixed into `Engine`).

Each feature has a default that does nothing, which is what the Neon engine offers; the
local engine overrides them. Callers use them plainly, never probing with `getattr`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


class OptionalFeatures:
    """The local engine's extras, declared with the Neon engine's answer to each."""

    #: Whether `snapshot_restore` returns after its swap committed: the endpoint serves
    #: the restored database at once (no read-back, no wait for a compute to restart).
    serves_restore_at_once: bool = False
    #: Whether `warm_up` keeps ready copies of recent snapshots for fast rollbacks.
    supports_warm_copies: bool = False
    #: Called with the name of each step the engine reaches (tests and the benchmark
    #: stop or time it there); None: not called. An engine without steps never calls it.
    fault_hook: Callable[[str], None] | None = None

    @property
    def storage_mode(self) -> str | None:
        """How snapshots are kept: 'reflink', 'tiered' (older ones may go cold) or 'hot';
        None: the engine keeps them its own way (no tiers of ours)."""
        return None

    def warm_up(self, project_id: str, *, background: bool = False) -> list[str]:
        """Make ready copies of the project's recent snapshots; answers the snapshot ids
        copied (none when `background`). Nothing to do without warm copies."""
        return []

    def warm_storage(self, project_id: str) -> list[tuple[str, int]]:
        """(snapshot id, bytes) of the project's ready warm copies, newest first."""
        return []

    def role_repair(self, project_id: str) -> list[str]:
        """Put the project role's password, settings and connection limit back to the
        engine's; answers what had been changed. Nothing when the engine does not own
        the role's state (Neon keeps its own)."""
        return []

    def history_span(self) -> tuple[datetime | None, int, int] | None:
        """(the oldest moment a version can be made as of, WAL bytes, base-backup bytes)
        of the engine's own history; None when the engine keeps no history of ours."""
        return None
