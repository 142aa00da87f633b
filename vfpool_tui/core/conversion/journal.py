"""The conversion journal: the original XML of every guest, and each step taken, on disk first.

Layout (directory 0700, files 0600; every write is fsync'ed, and so is the directory holding it)::

    <journal dir>/                      default /var/lib/vfpool-tui
      lock                              core/conversion/lock.py
      conversions/
        20250101-120000-web1-3f1b6c2e/  one record per guest conversion
          original-inactive.xml         the persistent definition before anything changed
          original-live.xml             the live XML, when the guest was running
          new.xml                       the definition it is being converted to
          log.jsonl                     append-only: begin, each step, end (one JSON object a line)

A record without an ``end`` line after its last ``begin``/``reopen`` is unfinished: the process
was interrupted (Ctrl-C, SIGHUP, crash) and ``resume`` or ``rollback`` should finish it. The
original XML is on disk and fsync'ed before the guest is touched, so it is always recoverable:
``virsh define original-inactive.xml`` restores the definition.
The XML is read with VIR_DOMAIN_XML_SECURE (it may hold VNC/SPICE passwords): keep it root-only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path("/var/lib/vfpool-tui")
CONVERSIONS = "conversions"
INACTIVE = "original-inactive.xml"
LIVE = "original-live.xml"
NEW = "new.xml"
DEFINED = "defined.xml"  # the definition as libvirt kept it after a finished conversion
LOG = "log.jsonl"


class JournalError(RuntimeError):
    """The journal cannot be written or read. ``str()`` is one line for the user."""


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create the journal directory with mode 0700 if it is missing (an existing one is kept as is)."""
    p = Path(path)
    try:
        if not p.exists():
            p.mkdir(mode=0o700, parents=True)
            os.chmod(p, 0o700)  # mkdir's mode is filtered by the umask
            _fsync_dir(p.parent)
        elif not p.is_dir():
            raise JournalError(f"journal path {p} exists and is not a directory")
        conv = p / CONVERSIONS
        if not conv.exists():
            conv.mkdir(mode=0o700)
            os.chmod(conv, 0o700)
            _fsync_dir(p)
    except PermissionError as err:
        raise JournalError(f"cannot create the journal directory {p}: {err.strerror} "
                           "(run as root, or give --journal-dir)") from None
    except OSError as err:
        if isinstance(err, JournalError):
            raise
        raise JournalError(f"cannot create the journal directory {p}: {err.strerror or err}") from None
    return p


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename, fsync dir), mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def _slug(name: str) -> str:
    return (_SAFE.sub("_", name).strip("._") or "guest")[:40]


@dataclass(frozen=True)
class RecordInfo:
    """A journal record as read back from disk."""

    id: str
    path: Path
    guest: str
    uuid: str
    network: str
    sources: tuple[str, ...]
    was_running: bool
    started: float
    steps: tuple[dict, ...]  # every log line after the first begin
    result: str | None  # result of the last end line; None while unfinished
    finished: bool
    meta: dict

    @property
    def targets(self) -> dict[str, str]:
        """{source: pool}: which device went onto which pool. Records written before conversions
        went device by device have one ``network`` for every source."""
        recorded = self.meta.get("targets")
        if isinstance(recorded, dict) and recorded:
            return {str(s): str(recorded.get(s) or self.network) for s in self.sources}
        return {s: self.network for s in self.sources}

    @property
    def networks(self) -> tuple[str, ...]:
        """The pools of the conversion, in device order."""
        out: list[str] = []
        for n in self.targets.values():
            if n not in out:
                out.append(n)
        return tuple(out) or (self.network,)

    @property
    def inactive_path(self) -> Path:
        return self.path / INACTIVE

    @property
    def live_path(self) -> Path | None:
        p = self.path / LIVE
        return p if p.exists() else None

    @property
    def new_path(self) -> Path:
        return self.path / NEW

    def original_inactive(self) -> str:
        return self.inactive_path.read_text(encoding="utf-8")

    def new_xml(self) -> str:
        return self.new_path.read_text(encoding="utf-8")

    def defined_xml(self) -> str:
        """The definition a finished conversion left (as libvirt printed it; records written before
        it was kept: the XML that was sent)."""
        path = self.path / DEFINED
        return path.read_text(encoding="utf-8") if path.exists() else self.new_xml()

    @property
    def last_step(self) -> dict | None:
        for line in reversed(self.steps):
            if line.get("kind") == "step":
                return line
        return None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        last = self.last_step
        where = f"last step {last['step']} {last['state']}" if last else "no step yet"
        status = self.result if self.finished else "UNFINISHED"
        return f"{self.id}  {self.guest} -> {', '.join(self.networks)}  {when}  {status}  ({where})"


class Record:
    """An open record the engine appends to."""

    def __init__(self, path: Path):
        self.path = path
        self._log = path / LOG

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def inactive_path(self) -> Path:
        return self.path / INACTIVE

    def append(self, kind: str, **fields) -> None:
        line = {"kind": kind, "t": round(time.time(), 3), **fields}
        data = (json.dumps(line, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def save(self, name: str, text: str) -> Path:
        """Keep another XML in the record (e.g. the definition a rollback replaces), fsync'ed, 0600."""
        if not name or name != _slug(name) or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        path = self.path / name
        write_file(path, text)
        return path

    def step(self, step: str, state: str, message: str = "") -> None:
        self.append("step", step=str(step), state=str(state), message=message)

    def reopen(self, action: str) -> None:
        self.append("reopen", action=action, pid=os.getpid())

    def finish(self, result: str, message: str = "") -> None:
        self.append("end", result=str(result), message=message)

    def read(self) -> RecordInfo:
        info = read_record(self.path)
        if info is None:
            raise JournalError(f"journal record {self.path} cannot be read")
        return info


class Journal:
    def __init__(self, directory: str | os.PathLike = DEFAULT_DIR):
        self.dir = Path(directory)

    @property
    def conversions(self) -> Path:
        return self.dir / CONVERSIONS

    def ensure(self) -> "Journal":
        ensure_dir(self.dir)
        return self

    def begin(self, *, guest: str, uuid: str, network: str, sources: tuple[str, ...],
              was_running: bool, inactive_xml: str, live_xml: str | None, new_xml: str,
              **meta) -> Record:
        """Write the originals (fsync'ed) and the begin line; only then may the guest be touched."""
        self.ensure()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{_slug(guest)}-{(uuid or 'nouuid')[:8]}"
        path = new_record_dir(self.conversions, base)
        try:
            os.chmod(path, 0o700)
            _fsync_dir(self.conversions)
            write_file(path / INACTIVE, inactive_xml)
            if live_xml is not None:
                write_file(path / LIVE, live_xml)
            write_file(path / NEW, new_xml)
            rec = Record(path)
            rec.append("begin", guest=guest, uuid=uuid, network=network, sources=list(sources),
                       was_running=was_running, pid=os.getpid(), **meta)
        except BaseException:
            # the guest is not touched when the backup cannot be written: leave no half record
            shutil.rmtree(path, ignore_errors=True)
            raise
        return rec

    def records(self) -> list[RecordInfo]:
        if not self.conversions.is_dir():
            return []
        out = []
        for p in sorted(self.conversions.iterdir()):
            if p.is_dir():
                info = read_record(p)
                if info is not None:
                    out.append(info)
        out.sort(key=lambda r: (r.started, r.id))
        return out

    def unfinished(self) -> list[RecordInfo]:
        return [r for r in self.records() if not r.finished]

    def latest_for(self, guest: str) -> RecordInfo | None:
        """The newest record of a guest (by name or UUID), preferring an unfinished one."""
        mine = [r for r in self.records() if guest in (r.guest, r.uuid, r.id)]
        if not mine:
            return None
        open_ = [r for r in mine if not r.finished]
        return (open_ or mine)[-1]

    def open(self, info: RecordInfo) -> Record:
        return Record(info.path)


def new_record_dir(parent: Path, base: str) -> Path:
    """A new 0700 directory ``parent/base`` (``base-2``, ``base-3``, ... when taken); never an
    existing one. (Shared by the conversion and remedy journals.)"""
    path, n = parent / base, 1
    while True:
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            n += 1
            path = parent / f"{base}-{n}"


def read_log_lines(log: Path) -> list[dict] | None:
    """The JSON objects of a record's log, a line each; a line torn by a crash is skipped.
    None when the log cannot be read. (Shared by the conversion and remedy journals.)"""
    try:
        raw = log.read_bytes()
    except OSError:
        return None
    lines = []
    for chunk in raw.splitlines():
        try:
            obj = json.loads(chunk)
        except ValueError:
            continue  # a line torn by a crash
        if isinstance(obj, dict):
            lines.append(obj)
    return lines


def read_record(path: Path) -> RecordInfo | None:
    """Read a record directory; None when it has no readable begin line (never written)."""
    lines = read_log_lines(path / LOG)
    if lines is None:
        return None
    begin = next((ln for ln in lines if ln.get("kind") == "begin"), None)
    if begin is None:
        return None
    open_ = False
    result = None
    for ln in lines:
        kind = ln.get("kind")
        if kind in ("begin", "reopen"):
            open_ = True
        elif kind == "end":
            open_ = False
            result = ln.get("result")
    known = {"kind", "t", "guest", "uuid", "network", "sources", "was_running"}
    return RecordInfo(
        id=path.name,
        path=path,
        guest=str(begin.get("guest", "")),
        uuid=str(begin.get("uuid", "")),
        network=str(begin.get("network", "")),
        sources=tuple(begin.get("sources") or ()),
        was_running=bool(begin.get("was_running")),
        started=float(begin.get("t", 0)),
        steps=tuple(ln for ln in lines if ln is not begin),
        result=None if open_ else result,
        finished=not open_,
        meta={k: v for k, v in begin.items() if k not in known},
    )
