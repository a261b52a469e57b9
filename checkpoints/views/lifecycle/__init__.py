"""Views of the version lifecycle (see `checkpoints.lifecycle`): storage and cleanup,
diffs, and the rollback confirmation's reading of the live database."""
