"""Every message the backend threads post to the app, in one place.

The backend (``tui/backend.py``) runs all blocking work off the event loop and reports back only
through these small, immutable messages; the app and its screens never call libvirt or sysfs.
With several hosts (several ``--connect``) each host has its own backend; ``host`` on a message
says whose it is (the host's key, its URI as given), set by the backend that posts it.
"""

from __future__ import annotations

from textual.message import Message

from vfpool_tui.core.model import Scan


class HostMessage(Message):
    """A message from one host's backend. ``host``: that host's key (None: the only host)."""

    host: str | None = None


class ScanReady(HostMessage):
    """A fresh scan of the host and libvirt."""

    def __init__(self, scan: Scan, reason: str, seconds: float) -> None:
        super().__init__()
        self.scan = scan
        self.reason = reason
        self.seconds = seconds


class ScanFailed(HostMessage):
    """The scan itself crashed (a bug or an unexpected host); the last good scan stays on screen."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__()
        self.error = error
        self.reason = reason


class ConnectionChanged(HostMessage):
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


class LibvirtEvent(HostMessage):
    """A libvirt domain, network or node-device event (names shown verbatim, never as markup)."""

    def __init__(self, kind: str, name: str, event: str) -> None:
        super().__init__()
        self.kind = kind  # "domain" | "network" | "nodedev"
        self.name = name
        self.event = event  # "started", "stopped", "defined", ...


class HostChanged(HostMessage):
    """udev saw a PF/VF appear, vanish or change driver."""

    def __init__(self, action: str, device: str) -> None:
        super().__init__()
        self.action = action  # "add" | "remove" | "change" | "bind" | "unbind" | ...
        self.device = device  # sysfs name / PCI address
