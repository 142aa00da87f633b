"""libvirt's event loop: registered once per process, run on one daemon thread.

Lifecycle events (a guest stopped, a network started) are only delivered while an event
implementation runs, and remote connections only deliver them when it was registered BEFORE the
connection was opened. The CLI's conversion engine and the TUI's backend both need it; whoever comes
first registers it, the other finds it running. A timer wakes the loop every half second so a
stop request or an interpreter shutdown is never stuck behind a loop iteration.
"""

from __future__ import annotations

import logging
import threading
import time

import libvirt

log = logging.getLogger(__name__)

_lock = threading.Lock()
_running = False


def ensure_event_loop() -> bool:
    """Start libvirt's default event loop if not running yet. False: not available (poll instead)."""
    global _running
    with _lock:
        if _running:
            return True
        try:
            libvirt.virEventRegisterDefaultImpl()
            libvirt.virEventAddTimeout(500, lambda _timer, _opaque: None, None)
        except libvirt.libvirtError as err:
            log.info("libvirt events unavailable: %s", err)
            return False

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except libvirt.libvirtError:
                    time.sleep(0.5)

        threading.Thread(target=run, name="vfpool-libvirt-events", daemon=True).start()
        _running = True
        return True


def event_loop_running() -> bool:
    return _running
