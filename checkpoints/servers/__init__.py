"""The embedded PostgreSQL servers (the app's and each team's), their roles and
configuration, the launcher's children, and the engine connections built on them."""
