"""The one error the CLI reports as a single line on stderr with a non-zero exit status.

It sits below everything that raises it (``commands``, ``demo``) and ``cli``, which prints it, so
none of them has to import another for it.
"""

from __future__ import annotations


class CommandError(Exception):
    """A refusal or failure to report as one line on stderr with a non-zero exit."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status
