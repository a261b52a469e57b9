"""Engines: one interface (`base.Engine`), two implementations (`local`, `neon`)."""
