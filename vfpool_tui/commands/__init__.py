"""CLI sub-commands: one module each, registered by vfpool_tui.cli."""
