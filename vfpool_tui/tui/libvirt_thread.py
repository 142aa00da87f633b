"""One host's libvirt thread: the calls submitted run one after another, in order, on one thread.

Like ``ThreadPoolExecutor(max_workers=1)``, except that its thread is a daemon: Python joins an
executor's threads when it exits, so a host whose connect hangs (an ssh session that never answers)
would hold up quitting for as long as the connect takes. A daemon thread is left to the operating
system instead; nothing it holds needs a clean close (libvirt's socket goes with the process).
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_STOP = object()
_LIVE: "weakref.WeakSet[LibvirtThread]" = weakref.WeakSet()


def any_busy() -> bool:
    """Is some libvirt thread inside a call now (a connect that hangs, say)? Ending the interpreter
    around a thread that is inside libvirt's C code can crash it (seen: SIGSEGV at quit)."""
    return any(t.busy for t in list(_LIVE))


class LibvirtThread:
    def __init__(self, name: str = "vfpool-libvirt") -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._shut = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.busy = False  # a call is running
        _LIVE.add(self)
        # started by the first call: until then the process may still be single-threaded, which the
        # first look needs to run in a forked child (core.forked_call, tui.host_source)
        self._started = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)``; RuntimeError once shut down (as an executor's ``submit``)."""
        with self._lock:
            if self._shut:
                raise RuntimeError("the libvirt thread is shut down")
            future: Future = Future()
            self._queue.put((future, fn, args))
            if not self._started:
                self._started = True
                self._thread.start()
            return future

    def shutdown(self, cancel_futures: bool = True) -> None:
        """No more calls; those still queued are cancelled (or, ``cancel_futures=False``, still run).
        Never waits for the one running."""
        with self._lock:
            if self._shut:
                return
            self._shut = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    item[0].cancel()
            self._queue.put(_STOP)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            self.busy = True
            try:
                result = fn(*args)
            except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(err)
            else:
                future.set_result(result)
            finally:
                self.busy = False
