"""`manage.py benchmark`'s options for the figures beside the engine's own: how big each
is measured, 0 skipping it (the web app, Neon, fair share, cold tier, manifest, teams)."""

from __future__ import annotations

from argparse import ArgumentParser

from checkpoints.benchmark.web_bench import WORKER_INTERVAL

#: `--fair-servers`' help.
FAIR_SERVERS = "where the fair-share figures' teams live: shared, per-team (CPU attack only)"


def add_figure_options(parser: ArgumentParser) -> None:
    """The optional figures' options (each skipped by 0)."""
    parser.add_argument(
        "--neon-op-seconds",
        type=float,
        default=2.0,
        help="how long the emulated Neon operations take (0 skips the Neon figures)",
    )
    parser.add_argument(
        "--web-contacts",
        type=int,
        default=1000,
        help="contacts in the web figures' demo project (0 skips the web figures)",
    )
    parser.add_argument(
        "--worker-interval",
        type=float,
        default=WORKER_INTERVAL,
        help="the web figures' worker fallback polling interval in seconds (as `make run`)",
    )
    parser.add_argument(
        "--fair-samples",
        type=int,
        default=10,
        help="team B's versions per fair-share attack (0 skips the fair-share figures)",
    )
    parser.add_argument("--fair-servers", default="shared,per-team", help=FAIR_SERVERS)
    _add_storage_options(parser)


def _add_storage_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--storage-sizes",
        default="100",
        help="app database sizes in MB for the cold-tier figures (a tiny one is added)",
    )
    parser.add_argument(
        "--storage-versions",
        type=int,
        default=300,
        help="tiny versions for the data-folder figure (0 skips the storage figures)",
    )
    parser.add_argument(
        "--manifest-tables",
        type=int,
        default=50_000,
        help="tables in the manifest-at-scale figure (0 skips it)",
    )
    parser.add_argument(
        "--team-servers",
        type=int,
        default=5,
        help="team servers to make for the per-team figures (0 skips them); versions per "
        "second are measured with 1, 2 and 5 of them saving at once (those up to this many)",
    )


def add_history_option(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--history-seconds",
        type=float,
        default=60.0,
        help="seconds of steady small workload for the history window's storage figures; "
        "the as-of times use --sizes (0 skips the history figures)",
    )
