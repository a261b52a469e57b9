"""Run the Neon-API emulator standalone, for trying the neon engine offline.

    python -m neon_emulator --port 8787 --server-url postgresql://postgres:…@127.0.0.1:54330/postgres

Without --server-url it serves an in-memory fake (no databases behind the URIs).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import threading

from checkpoints.engines.base import mask_password

from .fake_backend import FakeBackend
from .schema import OpenAPIChecker, find_spec
from .server import NeonEmulator


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m neon_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--server-url",
        help="PostgreSQL URL of a role that may CREATEDB: backs the emulator with the local engine",
    )
    parser.add_argument("--control-db", default="neon_emulator")
    parser.add_argument("--api-key", help="the key clients must send (default: a random one)")
    parser.add_argument("--account-key", action="append", default=[], help="another account's key")
    parser.add_argument("--op-duration", type=float, default=1.0, help="seconds per operation")
    parser.add_argument("--rate-limit", type=int, help="requests per second before 429")
    parser.add_argument(
        "--snapshot-limit", type=int, help="manual snapshots per project before 422 (Neon's)"
    )
    parser.add_argument("--check", action="store_true", help="check traffic against the spec")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)

    if args.server_url:
        from checkpoints.engines.local import LocalEngine

        backend = LocalEngine(args.server_url, control_db=args.control_db)
    else:
        backend = FakeBackend()
    api_key = args.api_key or "napi_emulator_" + secrets.token_hex(12)
    checker = OpenAPIChecker() if args.check and find_spec() else None
    emulator = NeonEmulator(
        backend,
        api_key=api_key,
        host=args.host,
        port=args.port,
        op_duration=args.op_duration,
        rate_limit=args.rate_limit,
        snapshot_limit=args.snapshot_limit,
        checker=checker,
    )
    for key in args.account_key:  # each an account that sees only its own projects
        emulator.account_add(key)
    print(f"Neon API emulator over {backend.name}: {mask_password(args.server_url or 'memory')}")
    print(f"NEON_API_URL={emulator.url}")
    print(f"NEON_API_KEY={api_key}")
    print("CHECKPOINTS_ENGINE=neon   (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with emulator:
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
