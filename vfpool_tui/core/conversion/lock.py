"""One conversion at a time: an flock on ``<journal dir>/lock``.

The kernel drops the lock when the holder exits (even by a crash), so there is no stale lock to
clean up. The file names the holder (pid, user, command, since) so a refusal can say who it is.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

LOCK_NAME = "lock"


class LockBusy(RuntimeError):
    """Another vfpool-tui holds the lock. ``str()`` is one line for the user."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


class ConversionLock:
    def __init__(self, journal_dir: str | os.PathLike):
        self.path = Path(journal_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, what: str = "convert") -> "ConversionLock":
        if self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(fd)
            os.close(fd)
            raise LockBusy(busy_message(holder, self.path), holder) from None
        except BaseException:
            os.close(fd)
            raise
        info = {
            "pid": os.getpid(),
            "user": _user(),
            "command": what,
            "argv": " ".join(sys.argv[:6]),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> "ConversionLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def read_holder(fd: int) -> dict:
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        return json.loads(raw) if raw else {}
    except (OSError, ValueError):
        return {}


def busy_message(holder: dict, path: Path) -> str:
    if holder.get("pid"):
        who = (f"pid {holder['pid']} ({holder.get('user', '?')}, {holder.get('command', '?')}, "
               f"since {holder.get('since', '?')})")
    else:
        who = "another process"
    return f"another vfpool-tui is converting guests: {who} holds {path}"


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (KeyError, ImportError):
        return str(os.geteuid())
