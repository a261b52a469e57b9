"""How a database is copied: `WAL_LOG` or `FILE_COPY`, whichever is expected to be faster.

`FILE_COPY` begins with a checkpoint, which flushes every page written on the server since
the last one (the app's, and other teams'), then copies the files (O(1) with reflinks).
`WAL_LOG` flushes nothing but writes the whole copy into the WAL, so its cost grows with
the size. The estimates below are fitted to bare copies measured on an idle 2-core ext4
machine (PostgreSQL 18, fsync on; WAL pending when the copy began):

| database | WAL pending | FILE_COPY | WAL_LOG |
|---:|---:|---:|---:|
| 11.5 MB | none | 50 ms | 51 ms |
| 21 MB | 10 MB | 73–91 ms | 50–54 ms |
| 35 MB | 97 / 292 / 583 MB (another team's writes) | 245 / 360 / 495 ms | 170–250 ms |
| 103 MB | none | 170–370 ms | 250–380 ms |
| 210 MB | 97 MB | 233–260 ms | 442–465 ms |
| 415 MB | 291 MB | 787–852 ms | 1.20–1.78 s |
| 723 MB | 583 MB | 2.27–2.79 s | 3.44–4.28 s |

Every row picks the faster one; the two cross near 27 MB for a database with no writes
pending, and higher the more is pending.
"""

from __future__ import annotations

MB = 1024 * 1024
#: FILE_COPY: the checkpoint's fixed cost, its flush per pending MB, the copy per MB.
FILE_COPY_FIXED_MS = 40.0
FILE_COPY_FLUSH_MS_PER_MB = 0.5
FILE_COPY_MS_PER_MB = 1.0
#: WAL_LOG: the copy written through the WAL, per MB.
WAL_LOG_MS_PER_MB = 2.5


def copy_strategy(size: int, pending_wal: int | None) -> str:
    """The faster strategy for a template of `size` bytes with `pending_wal` bytes of WAL
    since the last checkpoint (None: not readable, taken as none)."""
    return "WAL_LOG" if wal_log_ms(size) < file_copy_ms(size, pending_wal or 0) else "FILE_COPY"


def file_copy_ms(size: int, pending_wal: int) -> float:
    return (
        FILE_COPY_FIXED_MS
        + FILE_COPY_FLUSH_MS_PER_MB * pending_wal / MB
        + FILE_COPY_MS_PER_MB * size / MB
    )


def wal_log_ms(size: int) -> float:
    return WAL_LOG_MS_PER_MB * size / MB
