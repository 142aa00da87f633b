"""Shutting a guest down for its conversion: the ACPI request, the wait, forcing it off.

The wait ends on libvirt's lifecycle event (VIR_DOMAIN_EVENT_STOPPED, seen by ``LifecycleWatcher``
through the connection's one shared registration, once ``ensure_event_loop`` runs libvirt's event loop) or, as the fallback, on state polling. Every
wait is bounded; the clock is a parameter (the engine passes its own).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

import libvirt

from vfpool_tui.core.conversion.command_hints import virsh_dom
from vfpool_tui.core.conversion.events import Step, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.domain_state import is_gone, power_of
from vfpool_tui.core.virt.libvirt_events import (  # noqa: F401 (ensure_event_loop: re-exported)
    Event,
    ensure_event_loop,
    event_loop_running,
    events_of,
)

if TYPE_CHECKING:
    from vfpool_tui.core.conversion.options import Options

# the engine's event reporter: emit(run, guest, step, state, message, detail=None, result=None)
Emit = Callable[..., None]


class LifecycleWatcher:
    """Sets a per-guest threading.Event when libvirt reports the guest STOPPED.

    It subscribes to the connection's one lifecycle registration (``events_of(conn)``), which the
    TUI's backend shares on the same connection: registering a second callback of its own would
    fail (code 8, "event callback already tracked") and leave the wait to polling.
    """

    def __init__(self, conn):
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._sub = events_of(conn).on_domain(self._on_event) if event_loop_running() else None

    @property
    def active(self) -> bool:
        return self._sub is not None and self._sub.active

    def _on_event(self, ev: Event) -> None:
        if ev.event != "stopped":
            return
        with self._lock:
            evt = self._events.get(ev.uuid)
        if evt is not None:
            evt.set()

    def watch(self, uuid: str) -> threading.Event:
        with self._lock:
            evt = self._events.setdefault(uuid, threading.Event())
            evt.clear()
            return evt

    def unwatch(self, uuid: str) -> None:
        with self._lock:
            self._events.pop(uuid, None)

    def close(self) -> None:
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None


def shut_down(ctx: GuestRun, cancel: threading.Event, *, emit: Emit, watcher: LifecycleWatcher | None,
              is_forced: Callable[[str], bool], options: Options,
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> str:
    """'off', 'gone' (undefined by someone else), or a sentence saying why it still runs.

    A stop request does not end the wait: the ACPI request is out and the guest may act on it
    at any time, so the caller must be there to start it again.
    """
    g, dom, E = ctx.guest, ctx.dom, emit
    opts = options
    first = power_of(dom)
    if first != "on":
        return first
    evt = watcher.watch(ctx.uuid) if watcher else threading.Event()
    start_again = f"`virsh start {virsh_dom(g, ctx.uuid)}`"
    try:
        E(ctx, g, Step.SHUTDOWN, StepState.STARTED, "asking the guest to shut down (ACPI)")
        ctx.touched = True
        try:
            dom.shutdown()
        except libvirt.libvirtError as err:
            if is_gone(err):
                return "gone"
            now = power_of(dom)
            if now != "on":
                return now
            msg = f"shutdown request failed: {connection.describe(err)}; still running, nothing changed"
            E(ctx, g, Step.SHUTDOWN, StepState.FAILED, msg)
            return msg
        force_at = opts.force_after
        give_up = force_at if force_at is not None else opts.shutdown_timeout
        E(ctx, g, Step.SHUTDOWN, StepState.WAITING,
          f"waiting up to {give_up:g} s" + (" then forcing it off" if force_at is not None else ""))
        start = clock()
        told = False
        while True:
            if cancel.is_set() and not told:
                told = True
                E(ctx, g, Step.SHUTDOWN, StepState.INFO,
                  "stop requested: the ACPI shutdown request is already out, so waiting for it to "
                  "power off, then starting it again with its original definition")
            elapsed = clock() - start
            wait = max(0.01, min(opts.poll_interval, give_up - elapsed))
            evt.wait(wait)
            now = power_of(dom)
            if now != "on":
                if now == "off":
                    E(ctx, g, Step.SHUTDOWN, StepState.OK,
                      f"shut off after {clock() - start:.1f} s")
                return now
            elapsed = clock() - start
            forced = is_forced(g)
            if forced or (force_at is not None and elapsed >= force_at):
                why = "on request" if forced else f"after {elapsed:.0f} s"
                E(ctx, g, Step.SHUTDOWN, StepState.INFO, f"forcing it off (destroy) {why}")
                try:
                    dom.destroy()
                except libvirt.libvirtError as err:
                    if is_gone(err):
                        return "gone"
                    if power_of(dom) == "on":
                        msg = (f"destroy failed: {connection.describe(err)}; still running with its "
                               f"original definition, not converted")
                        E(ctx, g, Step.SHUTDOWN, StepState.FAILED, msg)
                        return msg
                now = wait_off(dom, 10.0, poll_interval=opts.poll_interval, clock=clock, sleep=sleep)
                if now != "on":
                    if now == "off":
                        E(ctx, g, Step.SHUTDOWN, StepState.OK, "forced off")
                    return now
                msg = "still running after destroy; its definition is unchanged, not converted"
                E(ctx, g, Step.SHUTDOWN, StepState.FAILED, msg)
                return msg
            if elapsed >= give_up:
                msg = (f"did not shut down within {give_up:g} s; still running with its original "
                       "definition, not converted. The ACPI shutdown request was sent and the guest "
                       f"may still act on it: if it powers off later, start it with {start_again}"
                       + (" (give --force-after SECONDS to force it off)" if force_at is None else ""))
                E(ctx, g, Step.SHUTDOWN, StepState.FAILED, msg)
                return msg
    finally:
        if watcher:
            watcher.unwatch(ctx.uuid)


def wait_off(dom, timeout: float, *, poll_interval: float,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> str:
    deadline = clock() + timeout
    while True:
        now = power_of(dom)
        if now != "on" or clock() >= deadline:
            return now
        sleep(min(0.1, poll_interval))
