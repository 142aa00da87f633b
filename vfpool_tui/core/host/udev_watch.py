"""Watch udev for SR-IOV relevant hardware changes (VFs created/removed, PFs added/changed).

``UdevWatcher`` listens on a ``pyudev.Monitor`` for the ``pci`` and ``net`` subsystems in a
background thread and calls a callback with a ``HostChange`` for each event that can change
what ``discover_host()`` reports. It polls with a timeout, so ``stop()`` ends it promptly.
No UI here: the caller decides what to do (usually: rescan, debounced).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pyudev

from vfpool_tui.core import pci as _pci

__all__ = ["HostChange", "UdevWatcher", "change_from_device"]

SUBSYSTEMS = ("pci", "net")
_PCI_IN_PATH = re.compile(r"/([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])(?=/|$)")


@dataclass(frozen=True)
class HostChange:
    """One udev event that may change the SR-IOV picture of the host."""

    action: str  # "add", "remove", "change", "bind", "unbind", "move"
    subsystem: str  # "pci" or "net"
    sys_name: str  # "0000:03:10.0" for pci, "enp3s0f0v0" for net
    pci: str | None  # the PCI device (pci events) or the PCI device behind the netdev (net events)
    kind: str  # "vf", "pf", "pci" (any other / not knowable, e.g. after removal), "netdev"
    pf_pci: str | None = None  # a VF's PF, when known


def _pci_from_devpath(devpath: str) -> str | None:
    """Last PCI address in a devpath: the device itself, or a netdev's parent device."""
    found = _PCI_IN_PATH.findall(devpath or "")
    if not found:
        return None
    try:
        return _pci.normalize(found[-1])
    except _pci.PciAddressError:
        return None


def _classify_pci(sys_path: str) -> tuple[str, str | None]:
    """("vf", pf address) / ("pf", None) / ("pci", None) from what sysfs still shows."""
    try:
        physfn = os.readlink(os.path.join(sys_path, "physfn"))
    except OSError:
        physfn = None
    if physfn:
        try:
            return "vf", _pci.normalize(os.path.basename(physfn.rstrip("/")))
        except _pci.PciAddressError:
            return "vf", None
    if os.path.exists(os.path.join(sys_path, "sriov_totalvfs")):
        return "pf", None
    return "pci", None


def change_from_device(device: pyudev.Device) -> HostChange | None:
    """The ``HostChange`` for one udev event, or None when it cannot matter (a tap, a bridge).

    ``device`` is what ``pyudev.Monitor`` hands out; its ``action`` is the uevent action.
    """
    try:
        subsystem = device.subsystem
        action = device.action or "change"
        sys_name = device.sys_name
        devpath = device.device_path
        sys_path = device.sys_path
    except Exception:
        return None
    if subsystem == "pci":
        address = _pci_from_devpath(devpath)
        if address is None:
            return None
        kind, pf_pci = ("pci", None) if action == "remove" else _classify_pci(sys_path)
        return HostChange(action=action, subsystem="pci", sys_name=sys_name, pci=address, kind=kind, pf_pci=pf_pci)
    if subsystem == "net":
        # only netdevs of PCI functions (PF, VF, representor); not tap/vnet/bridges/veth
        address = _pci_from_devpath(devpath)
        if address is None:
            return None
        return HostChange(action=action, subsystem="net", sys_name=sys_name, pci=address, kind="netdev")
    return None


class UdevWatcher:
    """Background watcher: ``UdevWatcher(callback).start()`` ... ``.stop()``.

    ``callback(change)`` runs on the watcher thread; it must be quick and thread-safe (e.g.
    post a message to the UI loop). An exception from it goes to ``on_error`` (if given) and
    the watcher keeps going.
    """

    def __init__(
        self,
        callback: Callable[[HostChange], None],
        context: pyudev.Context | None = None,
        *,
        poll_interval: float = 0.5,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._callback = callback
        self._context = context
        self._poll_interval = poll_interval
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._monitor: pyudev.Monitor | None = None
        self._ready = threading.Event()

    # -- lifecycle --------------------------------------------------------------------

    def open(self) -> None:
        """Create and start the monitor (done by ``start()``; call early to not miss events)."""
        if self._monitor is not None:
            return
        context = self._context or pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context)
        for subsystem in SUBSYSTEMS:
            monitor.filter_by(subsystem)
        monitor.start()
        self._monitor = monitor

    def start(self) -> UdevWatcher:
        if self._thread is not None:
            return self
        self.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vfpool-udev-watch", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._monitor = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> UdevWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- loop -------------------------------------------------------------------------

    def poll_once(self, timeout: float) -> HostChange | None:
        """Wait up to ``timeout`` s for one event; its change (None: nothing / irrelevant).

        For callers that run their own loop instead of ``start()``.
        """
        if self._monitor is None:
            self.open()
        assert self._monitor is not None
        return self._poll(self._monitor, timeout)

    @staticmethod
    def _poll(monitor: pyudev.Monitor, timeout: float) -> HostChange | None:
        device = monitor.poll(timeout=timeout)
        if device is None:
            return None
        return change_from_device(device)

    def _run(self) -> None:
        monitor = self._monitor  # this thread's own: stop() may drop self._monitor meanwhile
        self._ready.set()
        if monitor is None:
            return
        while not self._stop.is_set():
            try:
                change = self._poll(monitor, self._poll_interval)
            except Exception as exc:  # socket trouble: report, back off, go on
                self._report(exc)
                self._stop.wait(self._poll_interval)
                continue
            if change is None or self._stop.is_set():
                continue
            try:
                self._callback(change)
            except Exception as exc:
                self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                pass
