"""How the conversion screens reach the engine: its journal directory, its options, its connection.

The threading choice (see also the progress screen):

* ``engine.plan`` runs on the app's single libvirt thread (``backend.call``): it is short and reads
  the guests' XML like a scan does.
* ``engine.run`` / ``resume`` / ``rollback`` run in a Textual thread worker of the progress screen,
  on the SAME connection object as the app (fetched from the libvirt thread with
  ``backend.call(lambda conn: conn)``). libvirt's ``virConnect`` is thread-safe and the engine
  already shares one connection among its own worker threads, so running the whole conversion on
  the backend's thread would not keep the connection on one thread anyway; it would only stall
  every scan and reconnect behind a conversion that can wait minutes for a guest to shut down.
  Sharing the connection (rather than opening a second one) also matters for the demo: each
  ``test:///file`` connection is a separate in-memory host, so only the app's own connection
  shows the conversion in the other views.
* ``ensure_event_loop()`` (core/virt/libvirt_events.py) is shared with the backend, which has usually
  started it already: the engine's lifecycle watcher sees the guest stop through libvirt's event;
  state polling (every 0.25 s here) is only the fallback.

The journal directory: ``settings.journal_dir`` when given; with ``--demo`` a private temporary
directory (mode 0700, like ``vfpool-tui convert --demo``: the demo's libvirt state lives only in
this process); else ``/var/lib/vfpool-tui``. It is chosen once per app.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from vfpool_tui.core.conversion.engine import Options
from vfpool_tui.core.conversion.journal import DEFAULT_DIR

SHUTDOWN_TIMEOUT = 120.0
POLL_INTERVAL = 0.25  # the engine's state polling, the fallback to libvirt's lifecycle events


def journal_dir(app: Any) -> Path:
    settings = app.settings
    if settings.journal_dir is None:
        if settings.demo:
            from vfpool_tui.demo import demo_paths

            settings.journal_dir = demo_paths().journal_dir
            settings.journal_dir.mkdir(mode=0o700, exist_ok=True)  # an earlier app may have removed it
            settings.journal_dir_is_temp = True
        else:
            settings.journal_dir = DEFAULT_DIR
    return Path(settings.journal_dir)


def options() -> Options:
    """The engine's options for a TUI run: nobody is forced off unless the operator presses f."""
    return Options(shutdown_timeout=SHUTDOWN_TIMEOUT, force_after=None, concurrency=4,
                   stop_on_error=False, poll_interval=POLL_INTERVAL)


class NoConnection(RuntimeError):
    pass


async def app_connection(app: Any) -> Any:
    """The app's libvirt connection, fetched on the libvirt thread (awaited, never blocking)."""
    fut = app.backend.call(lambda conn: conn)
    if fut is None:
        raise NoConnection("the libvirt thread has stopped")
    conn = await asyncio.wrap_future(fut)
    if conn is None or not app.backend.connected:
        raise NoConnection("libvirt is not connected (r: reconnect)")
    return conn


async def on_libvirt_thread(app: Any, fn, *args: Any) -> Any:
    """Run ``fn(conn, *args)`` on the app's libvirt thread and await its result."""
    fut = app.backend.call(fn, *args)
    if fut is None:
        raise NoConnection("the libvirt thread has stopped")
    return await asyncio.wrap_future(fut)
