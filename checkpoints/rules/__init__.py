"""Pure rules and reads that the layers above share: selectors (lookups), permissions,
version rules, SQL and labels, and the snapshot room."""
