"""The history window of an embedded server: PostgreSQL's own continuous archiving.

- `wal`: the server archives every finished WAL segment (gzip, `archive_command`) into
  `<server folder>/history/wal`, and summarises its WAL (`summarize_wal`) so that
  `pg_basebackup --incremental` copies only the blocks changed since the last backup;
- `basebackup`: periodic base backups (a full one, then incrementals on it) into
  `history/base`, trimmed with the WAL they need when they fall out of every window;
- `recovery`: a scratch instance (its own folder, Unix socket, small memory) built from
  the newest backup chain before the target (`pg_combinebackup`) that replays the
  archive to a time, LSN or transaction and is promoted there;
- `asof`: the engine's "version as of": the project's database dumped from the scratch
  instance as the project's own role, recorded as a (cold) snapshot.

Knows no Django: callers pass the folders.
"""
