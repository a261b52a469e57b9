"""Connection secrets at rest: encrypted with `cryptography`'s MultiFernet.

The keys come from CHECKPOINTS_SECRET_KEYS (comma-separated Fernet keys, newest first:
the first encrypts, every one decrypts, so a key is rotated by putting a new one in front
and running `secret_rotate` over the stored tokens), else from one key generated once into
the data folder (`connection_keys`, mode 600), as Django's secret key is.

A decrypted secret is only ever handed to an engine: never rendered, logged or returned.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

KEYS_FILE = "connection_keys"
_lock = threading.Lock()


class SecretUnreadable(Exception):
    """A stored secret that none of the keys opens (a key was removed too early)."""


def _keys() -> list[str]:
    keys = list(settings.CHECKPOINTS_SECRET_KEYS)
    if keys:
        return keys
    path = Path(settings.DATA_DIR) / KEYS_FILE
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: two processes starting together keep the first one's key
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _box() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in _keys()])


def secret_seal(plain: str) -> str:
    """The token stored for `plain` (empty stays empty)."""
    return _box().encrypt(plain.encode()).decode() if plain else ""


def secret_open(token: str) -> str:
    """The secret sealed in `token`; SecretUnreadable when no key opens it."""
    if not token:
        return ""
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a connection secret cannot be decrypted with CHECKPOINTS_SECRET_KEYS: "
            "keep the old key after the new one until every secret is rotated"
        ) from None


def secret_rotate(token: str) -> str:
    """`token` encrypted again with the newest key (after adding one in front)."""
    return _box().rotate(token.encode()).decode() if token else ""
