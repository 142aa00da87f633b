"""The command palette's entries (ctrl+p or ``:``): every action of the app by name, with its key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen


def system_commands(app: Any, screen: Screen) -> Iterable[SystemCommand]:
    """``app``: the ``VfpoolApp`` (not imported here: the app imports this module)."""
    yield SystemCommand("Refresh", "Scan the host and libvirt again (r)", app.action_refresh)
    if app.multi:
        yield SystemCommand("Hosts", "Every host: connection, VFs, pools near exhaustion, problems (s)",
                            app.action_hosts)
    yield SystemCommand("Host overview", "PFs, their VFs, pools (h)", lambda: app.action_view("host"))
    yield SystemCommand("Guests", "Guests with their VF use and conversion candidates (g)",
                        lambda: app.action_view("guests"))
    yield SystemCommand("Pools", "Pools with capacity and use (o)", lambda: app.action_view("pools"))
    yield SystemCommand("Problems", "Problems found, with explanations (p)",
                        lambda: app.action_view("problems"))
    yield SystemCommand("Create a pool", "Guided pool setup (n)", app.action_new_pool)
    yield SystemCommand("Convert guests", "Move hard-coded VFs to a pool (c)", app.action_convert)
    yield SystemCommand("Troubleshoot", "Pool capacity vs use, who holds and waits, why a start failed (t)",
                        app.action_troubleshoot)
    guest = app.selected_guest_name(screen)  # the view under the palette
    yield SystemCommand(
        f"Why does {guest} not start?" if guest else "Why does a guest not start?",
        "What stands in the way of a guest's VFs, or what libvirt's error means (w)",
        lambda: app.action_why(guest or ""))
    yield SystemCommand("Help", "Keys and markers (?)", app.action_help)
    yield SystemCommand("Quit", "Leave vfpool-tui (q)", app.exit)
    if screen.maximized is None and screen.focused is not None:
        yield SystemCommand("Maximize", "Maximize the focused pane", screen.action_maximize)
