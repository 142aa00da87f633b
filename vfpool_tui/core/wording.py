"""Small helpers for the plain-language messages the core and the CLI write."""

from __future__ import annotations

from collections.abc import Iterable


def names(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 guest``, ``2 guests``; ``many`` for irregular plurals."""
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"
