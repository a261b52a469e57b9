"""Ids in Neon's shapes and the physical names of the local engine's databases and roles.

Ids: project `<adj>-<noun>-<8 digits>`, branch `br-<adj>-<noun>-<8 chars>`, endpoint
`ep-…`, snapshot `snap-…`, operation a UUID. Physical names start with the engine's prefix
(`<control_db>__`), so the engine can recognise — and clean — databases it made and
nothing else; a control database name never contains `__`, so no engine's prefix is a
prefix of another's.
"""

from __future__ import annotations

import re
import secrets
import string

ADJECTIVES = (  # noqa: SIM905 - a word list reads better as text
    "aged ancient autumn billowing bitter black blue bold broad calm cold cool crimson "
    "curly damp dark dawn delicate divine dry empty falling fancy flat floral fragrant "
    "frosty gentle green hidden holy icy jolly late lingering little lively long lucky "
    "misty morning muddy mute nameless noisy odd old orange patient plain polished "
    "proud purple quiet rapid raspy red restless rough round royal shiny shrill shy "
    "silent small snowy soft solitary sparkling spring square steep still summer super "
    "sweet throbbing tight tiny twilight wandering weathered white wild winter wispy "
    "withered yellow young"
).split()
NOUNS = (  # noqa: SIM905
    "art band bar base bird block boat bonus bread breeze brook bush butterfly cake cell "
    "cherry cloud credit darkness dawn dew disk dream dust feather field fire firefly "
    "flower fog forest frog frost glade glitter grass hall hat haze heart hill king lab "
    "lake leaf limit math meadow mode moon morning mountain mouse mud night paper pine "
    "poetry pond queen rain recipe resonance rice river salad scene sea shadow shape "
    "silence sky smoke snow snowflake sound star sun sunset surf term thunder tooth tree "
    "truth union unit violet voice water waterfall wave wildflower wind wood"
).split()
_ALNUM = string.ascii_lowercase + string.digits

CONTROL_DB_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_CONTROL_DB_LENGTH = 24


def _words() -> str:
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}"


def _suffix(length: int = 8) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def project_id() -> str:
    return f"{_words()}-{secrets.randbelow(10**8):08d}"


def branch_id() -> str:
    return f"br-{_words()}-{_suffix()}"


def endpoint_id() -> str:
    return f"ep-{_words()}-{_suffix()}"


def snapshot_id() -> str:
    return f"snap-{_words()}-{_suffix()}"


def password() -> str:
    return "npl_" + secrets.token_urlsafe(24)


def check_control_db(name: str) -> str:
    if not CONTROL_DB_PATTERN.match(name) or len(name) > MAX_CONTROL_DB_LENGTH:
        raise ValueError(
            f"control database name {name!r} must be lowercase letters, digits and single "
            f"underscores, at most {MAX_CONTROL_DB_LENGTH} characters"
        )
    return name


class Names:
    """Physical names of one engine's databases and roles (all under its prefix)."""

    def __init__(self, control_db: str) -> None:
        self.prefix = check_control_db(control_db) + "__"

    def branch_db(self) -> str:
        return f"{self.prefix}br_{_suffix(12)}"

    def snapshot_db(self) -> str:
        return f"{self.prefix}snap_{_suffix(12)}"

    def warm_db(self) -> str:
        return f"{self.prefix}warm_{_suffix(12)}"

    def endpoint_db(self, endpoint: str) -> str:
        # The stable database name a connection string carries: the endpoint's id.
        return self.prefix + endpoint.replace("-", "_")

    def role(self, project: str) -> str:
        return self.prefix + project.replace("-", "_")

    def owns(self, name: str) -> bool:
        return name.startswith(self.prefix)
