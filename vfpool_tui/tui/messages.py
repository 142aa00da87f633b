"""Every message the backend threads post to the app, in one place.

The backend (``tui/backend.py``) runs all blocking work off the event loop and reports back only
through these small, immutable messages; the app and its screens never call libvirt or sysfs.
"""

from __future__ import annotations

from textual.message import Message

from vfpool_tui.core.model import Scan


class ScanReady(Message):
    """A fresh scan of the host and libvirt."""

    def __init__(self, scan: Scan, reason: str, seconds: float) -> None:
        super().__init__()
        self.scan = scan
        self.reason = reason
        self.seconds = seconds


class ScanFailed(Message):
    """The scan itself crashed (a bug or an unexpected host); the last good scan stays on screen."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__()
        self.error = error
        self.reason = reason


class ConnectionChanged(Message):
    """libvirt reachable or not. ``error`` is one plain line when it is not.

    ``readonly``: the connection itself is read-only (only meaningful when connected).
    ``reconnecting``: the connection was lost and the backend is reconnecting by itself.
    """

    def __init__(self, connected: bool, uri: str | None, readonly: bool, error: str | None = None,
                 events: bool = False, reconnecting: bool = False) -> None:
        super().__init__()
        self.connected = connected
        self.uri = uri
        self.readonly = readonly
        self.error = error
        self.events = events  # lifecycle events are being delivered
        self.reconnecting = reconnecting


class LibvirtEvent(Message):
    """A libvirt domain or network lifecycle event (names shown verbatim, never as markup)."""

    def __init__(self, kind: str, name: str, event: str) -> None:
        super().__init__()
        self.kind = kind  # "domain" | "network"
        self.name = name
        self.event = event  # "started", "stopped", "defined", ...


class HostChanged(Message):
    """udev saw a PF/VF appear, vanish or change driver."""

    def __init__(self, action: str, device: str) -> None:
        super().__init__()
        self.action = action  # "add" | "remove" | "change" | "bind" | "unbind" | ...
        self.device = device  # sysfs name / PCI address
