"""A local emulator of the Neon API v2 subset the neon engine uses (tests and offline use).

    with NeonEmulator(FakeBackend(), checker=OpenAPIChecker()) as emulator:
        engine = NeonEngine("any-key", api_url=emulator.url)

Run it standalone over the local engine: `python -m neon_emulator --server-url postgresql://…`.
"""

from .fake_backend import FakeBackend
from .model import (
    CANCEL,
    ERROR,
    HANG,
    LOCKED_MESSAGE,
    NORMAL,
    RETRY,
    STAY_FAILED,
)
from .server import NeonEmulator

__all__ = [
    "CANCEL",
    "ERROR",
    "HANG",
    "LOCKED_MESSAGE",
    "NORMAL",
    "RETRY",
    "STAY_FAILED",
    "FakeBackend",
    "NeonEmulator",
]
