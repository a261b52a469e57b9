"""The local engine as a package: `LocalEngine` (engine.py) composes one module per
resource (projects, branches, snapshots, endpoints, roles, operations) or mechanism
(core: connections and locks; restore and swap; warm copies; recovery)."""

from .cold import COLD_STEPS
from .core import LOCKED_MESSAGE, WARM_LOCK_WAIT, WARM_STEP_WAIT
from .core import warm_key as _warm_key
from .engine import LocalEngine
from .recover import INTERRUPTED
from .steps import OTHER_STEPS, ROLLBACK_STEPS, WARM_STEPS

__all__ = [
    "COLD_STEPS",
    "INTERRUPTED",
    "LOCKED_MESSAGE",
    "OTHER_STEPS",
    "ROLLBACK_STEPS",
    "WARM_LOCK_WAIT",
    "WARM_STEPS",
    "WARM_STEP_WAIT",
    "LocalEngine",
    "_warm_key",
]
