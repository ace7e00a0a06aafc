"""Use cases: the only way the CLI and the web reach the core and the store."""
