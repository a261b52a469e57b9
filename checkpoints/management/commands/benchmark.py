"""python manage.py benchmark [--sizes 10,100] [--runs 3] [--json] [--data-dir PATH]"""

from __future__ import annotations

import json as _json
import os
import platform
import signal
import subprocess
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from checkpoints.benchmark.engine_bench import bench_size
from checkpoints.benchmark.fair_bench import bench_fair, fair_rows
from checkpoints.benchmark.figure_options import add_figure_options, add_history_option
from checkpoints.benchmark.history_bench import bench_history
from checkpoints.benchmark.manifest_bench import bench_manifest, manifest_lines
from checkpoints.benchmark.neon_bench import bench_neon, emulator_available
from checkpoints.benchmark.quiet_bench import add_quiet_options, bench_quiet, quiet_lines
from checkpoints.benchmark.report import neon_rows, render_json, render_table, web_rows
from checkpoints.benchmark.storage_bench import bench_storage
from checkpoints.benchmark.team_bench import CONCURRENCY, bench_team_servers
from checkpoints.benchmark.web_bench import WORKER_INTERVAL, bench_web
from checkpoints.engines import local_server_url
from checkpoints.engines.local import LocalEngine
from checkpoints.servers.pgserver import EmbeddedPostgres

BENCH_CONTROL_DB = "checkpoints_benchmark"


class Command(BaseCommand):
    help = "Measure snapshot, rollback and preview next to dump/restore and template copies."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sizes", default="10,100", help="app database sizes in MB")
        parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        add_figure_options(parser)
        add_quiet_options(parser)
        add_history_option(parser)
        parser.add_argument(
            "--data-dir",
            type=Path,
            help="run on a fresh embedded PostgreSQL in this folder (e.g. on XFS/btrfs)",
        )

    def handle(
        self,
        *args,
        sizes: str,
        runs: int,
        json: bool,
        data_dir: Path | None,
        neon_op_seconds: float,
        web_contacts: int = 1000,
        worker_interval: float = WORKER_INTERVAL,
        storage_sizes: str = "100",
        storage_versions: int = 300,
        fair_samples: int = 10,
        team_servers: int = 5,
        **opts,
    ):
        size_list = _size_list(sizes, runs)
        signal.signal(signal.SIGTERM, _interrupt)
        server = EmbeddedPostgres(data_dir) if data_dir else None
        admin_url = server.start().url() if server else local_server_url(settings)
        engine = LocalEngine(admin_url, control_db=BENCH_CONTROL_DB)
        try:
            results = []
            for size in size_list:
                if not json:
                    self.stderr.write(f"measuring {size:g} MB ({runs} runs) …")
                results.append(bench_size(engine, admin_url, size, runs))
            extra = self._extra(
                admin_url, runs, json, web_contacts, worker_interval, neon_op_seconds
            ) + self._fair(admin_url, json, fair_samples, worker_interval, opts)
            storage = self._storage(admin_url, runs, json, storage_sizes, storage_versions)
            scale = self._manifest(engine, admin_url, json, opts.get("manifest_tables", 0))
            teams = self._teams(team_servers, json)
            quiet = self._quiet(json, opts)
            history = self._history(size_list, opts.get("history_seconds", 60.0), json)
            header = machine(admin_url)
            parts = {"storage": storage, "scale": scale, "teams": teams, "quiet": quiet}
            self._write(json, header, results, extra, parts | {"history": history})
        finally:
            engine.destroy()  # every database and role the benchmark made
            if server:
                server.stop()

    def _write(self, json: bool, header, results, extra, parts: dict) -> None:
        storage, scale, teams = parts["storage"], parts["scale"], parts["teams"]
        quiet, history = parts["quiet"], parts["history"]
        if json:
            body = _json.loads(render_json(header, results, extra))
            body["storage"] = storage.figures if storage else None
            body["manifest_at_scale"] = scale
            body["team_servers"] = teams.figures if teams else None
            body["quiet_saves"] = quiet
            body["history"] = history.figures if history else None
            self.stdout.write(_json.dumps(body, indent=2))
            return
        lines = [ln for part in (storage, teams, history) if part for ln in part.lines()]
        lines += (manifest_lines(scale) if scale else []) + quiet_lines(quiet)
        self.stdout.write("\n".join([render_table(header, results, extra), *lines]))

    def _extra(
        self,
        admin_url: str,
        runs: int,
        quiet: bool,
        web_contacts: int,
        worker_interval: float,
        neon_op_seconds: float,
    ) -> list:
        """The web figures (a live app) and the Neon ones (the emulator), where asked for."""
        extra = []
        if web_contacts > 0:
            if not quiet:
                self.stderr.write("measuring the web app (gunicorn + workers) …")
            figures = bench_web(
                admin_url,
                runs=runs,
                contacts=web_contacts,
                renders=max(20, 10 * runs),
                worker_interval=worker_interval,
            )
            extra += web_rows(figures)
        if neon_op_seconds > 0 and emulator_available():
            if not quiet:
                self.stderr.write("measuring the neon engine against the emulator …")
            extra += neon_rows(bench_neon(neon_op_seconds))
        return extra

    def _manifest(self, engine: LocalEngine, admin_url: str, quiet: bool, tables: int):
        """The manifest-at-scale figures (`tables` tables), if asked."""
        if tables <= 0:
            return None
        if not quiet:
            self.stderr.write(f"measuring the manifest of {tables:,} tables …")
        return bench_manifest(engine, admin_url, tables)

    def _fair(
        self, admin_url: str, quiet: bool, samples: int, worker_interval: float, opts: dict
    ) -> list:
        """Another team's version under each fair-share attack (a live app), if asked: on
        the shared server, and on per-team servers (`--fair-servers`)."""
        rows: list = []
        for servers in str(opts.get("fair_servers") or "shared").split(","):
            if samples <= 0:
                break
            if not quiet:
                self.stderr.write(f"measuring fair share ({servers}: another team under attack) …")
            figures = bench_fair(
                admin_url, samples=samples, worker_interval=worker_interval, servers=servers.strip()
            )
            rows += fair_rows(figures)
        return rows

    def _quiet(self, quiet: bool, opts: dict) -> list:
        """Saves with an app busy on the live database, and a warm rollback, if asked."""
        sizes = opts.get("quiet_sizes", "")
        size_list = [float(s) for s in sizes.split(",") if s.strip()]
        if not size_list:
            return []
        if not quiet:
            self.stderr.write(f"measuring saves with a busy app ({sizes} MB) …")
        return bench_quiet(size_list, int(opts.get("quiet_saves", 20)))

    def _history(self, sizes: list[float], seconds: float, quiet: bool):
        """The history window's figures (as-of times per size, storage per day), if asked."""
        if seconds <= 0:
            return None
        if not quiet:
            self.stderr.write("measuring the history window …")
        return bench_history(sizes, seconds)

    def _teams(self, count: int, quiet: bool):
        """The team servers' figures (a new team's first project, idle memory), if asked."""
        if count <= 0:
            return None
        if not quiet:
            self.stderr.write(f"measuring {count} team servers …")
        concurrency = tuple(n for n in CONCURRENCY if n <= count)
        return bench_team_servers(count, concurrency=concurrency)

    def _storage(
        self, admin_url: str, runs: int, quiet: bool, storage_sizes: str, storage_versions: int
    ):
        """The cold tier's figures (bytes per version, cold rollback, data folder), if asked."""
        if storage_versions <= 0:
            return None
        if not quiet:
            self.stderr.write(f"measuring the cold tier ({storage_versions} versions) …")
        sizes_mb = [float(s) for s in storage_sizes.split(",") if s.strip()]
        return bench_storage(admin_url, sizes_mb, runs, storage_versions)


def machine(admin_url: str) -> dict[str, str]:
    with psycopg.connect(admin_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        try:  # the engine's least-privilege role may not read it
            data_directory = conn.execute("SHOW data_directory").fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            data_directory = None
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        "postgresql": version,
        "filesystem": filesystem_of(data_directory) if data_directory else "unknown",
        "engine": "local",
    }


def filesystem_of(path: str) -> str:
    """The mount's type (`findmnt`: ext4, xfs …); `stat -f` names ext4 "ext2/ext3"."""
    for command in (
        ["findmnt", "-n", "-o", "FSTYPE", "--target", path],
        ["stat", "-f", "-c", "%T", path],
    ):
        try:
            result = subprocess.run(command, capture_output=True, text=True)
        except OSError:
            continue
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    return "unknown"


def _size_list(sizes: str, runs: int) -> list[float]:
    """`--sizes` as numbers of MB, refused unless each is positive and `--runs` at least 1."""
    try:
        size_list = [float(item) for item in sizes.split(",") if item.strip()]
    except ValueError as error:
        raise CommandError(f"--sizes takes numbers in MB, e.g. 10,100 ({error})") from None
    if not size_list or min(size_list) <= 0 or runs < 1:
        raise CommandError("--sizes must be positive numbers and --runs at least 1")
    return size_list


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
