"""Run by hand (not collected): `pytest tests/engines/bench_tables_restore.py -s`."""

import json

from checkpoints.benchmark.tables_bench import bench_tables


def test_bench_tables_100mb(engine):
    result = bench_tables(engine, 100)
    print(
        "\n"
        + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})
    )
