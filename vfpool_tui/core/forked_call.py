"""A call run in a forked child process, its result handed back through a pipe.

The TUI's first look at the host (``core.scan.first_look``: the cards from sysfs, and every
guest's definition from libvirt) is Python work: sysfs reads and their parsing (~60 ms for 16 PFs
with 1,024 VFs), XML parsing and classifying (~40 ms for 500 guests). In the process whose
interpreter lock the UI's start-up needs too, that time is taken from the UI (or the UI's from
it) whatever the threads; a child runs it on another core. The child gets a copy of the parent at
the fork and sends back one pickled result; it writes to nothing but its pipe.

Any failure of the child (no fork allowed, it died, it sent nothing readable or not what was
expected, an exception in the call itself) gives ``None``, and the caller does the work in its own
process as before, so that errors are raised and reported the one way they always are.

Fork only where no other thread runs (``safe_to_fork``): the child inherits every lock as it was,
and a lock another thread held at that moment would never be released in the child.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable

KILLED_WAIT = 2.0  # seconds a killed child is waited for (``ForkedCall._reap``)


def safe_to_fork() -> bool:
    """True when this thread is the process's only one (no lock can be held by another)."""
    return threading.active_count() == 1


class ForkedCall:
    """``ForkedCall.start(fn)`` forks a child running ``fn()``; ``result(timeout, expect)`` waits
    for what it returned (``None`` when the child could not give an ``expect``)."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid, self._fd = pid, fd
        self._status = -1  # the child's exit code, once reaped
        self._taken = threading.Lock()  # result() or cancel(): the first one owns the pipe and the child
        self._done = False

    @classmethod
    def start(cls, fn: Callable[[], object]) -> ForkedCall | None:
        """Fork the child; None when the system refuses (process limit, seccomp, no fork)."""
        try:
            r, w = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return None
        if pid == 0:  # the child: call, send, leave without running the parent's exit code
            code = 1
            try:
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                # nothing of the child's reaches the terminal the UI draws on (a library's warning)
                # and nothing there is read by it
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                sys.stdout = sys.stderr = open(os.devnull, "w")  # (the UI's capture of print, too)  # noqa: SIM115
                data = pickle.dumps(fn(), pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view):]
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        return cls(pid, r)

    def ready(self, timeout: float) -> bool:
        """Has the child answered (or ended) within ``timeout`` seconds? Takes nothing: ``result()``
        still reads it; False once taken."""
        with self._taken:
            if self._done:
                return False
            poller = select.poll()
            poller.register(self._fd, select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000))

    def result(self, timeout: float, expect: type) -> object | None:
        """What the child's call returned, when it is an ``expect``; None when the child failed or
        gave nothing within ``timeout`` seconds (it is then killed). Called once; None after
        ``cancel()``."""
        with self._taken:
            if self._done:
                return None
            self._done = True
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        complete = False
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    break  # no answer in time
                chunk = os.read(self._fd, 1 << 20)
                if not chunk:
                    complete = True
                    break
                chunks.append(chunk)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._reap(kill=not complete)
        if not complete or self._status != 0:
            return None
        try:
            got = pickle.loads(b"".join(chunks))
        except Exception:
            return None
        return got if isinstance(got, expect) else None

    def cancel(self) -> None:
        """Not wanted any more (the app ends first): stop the child and reap it. Once
        ``result()`` has begun it owns the child, which ends soon: nothing to do."""
        with self._taken:
            if self._done:
                return
            self._done = True
        os.close(self._fd)
        self._reap(kill=True)

    def _reap(self, kill: bool) -> None:
        """Collect the child's exit status. A killed child is waited for ``KILLED_WAIT`` seconds at
        most: one inside a system call that cannot be interrupted (a sysfs read that hangs) dies
        only when that call returns, and the app's exit must not wait for it."""
        if kill:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
        deadline = time.monotonic() + KILLED_WAIT
        while True:
            try:
                pid, status = os.waitpid(self._pid, os.WNOHANG if kill else 0)
            except ChildProcessError:
                return
            if pid:
                self._status = os.waitstatus_to_exitcode(status)
                return
            if time.monotonic() >= deadline:
                return  # left to init once this process ends
            time.sleep(0.005)
