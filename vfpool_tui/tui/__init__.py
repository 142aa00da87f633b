"""The Textual user interface. Nothing under ``vfpool_tui.core`` imports from here."""
