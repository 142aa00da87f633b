"""How guests and files are written in the commands a message tells the operator to run.

Guest names may hold anything (spaces, quotes, a leading '-'), so every word is shell-quoted.
"""

from __future__ import annotations

import shlex


def q(word: str) -> str:
    """A word quoted for a shell command shown to the operator (guest names may hold anything)."""
    return shlex.quote(str(word))


def virsh_dom(name: str, uuid: str | None = None) -> str:
    """How to name a guest on a virsh command line (a leading '-' would be read as an option)."""
    if name.startswith("-") and uuid:
        return uuid
    return q(name)


def cli_guest(name: str, uuid: str | None = None) -> str:
    """How to name a guest on a vfpool-tui command line."""
    if name.startswith("-"):
        return q(uuid) if uuid else "-- " + q(name)
    return q(name)
