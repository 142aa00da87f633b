"""Helpers for the TUI tests (importable from test modules; fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

FROZEN_TIME = "12:00:00"


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds (the backend answers from its own thread)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
    await pilot.pause()


async def wait_for_scans(pilot, n: int = 1) -> None:
    await wait_until(pilot, lambda: pilot.app.scans_applied >= n)


def async_test(fn):
    """Run an ``async def`` test with asyncio.run (no pytest-asyncio needed); fixtures still work."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def static_text(*widgets, width: int = 140) -> str:
    """The plain text of Static widgets' content (rich renderables printed without colour)."""
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    for w in widgets:
        console.print(w.content)
    return console.file.getvalue()
