"""A remedy's journal record: its originals and each step, on disk first, beside the conversions.

Layout (same rules as ``conversion/journal.py``: directory 0700, files 0600, every write fsync'ed)::

    <journal dir>/remedies/20250101-120000-grow-pf-eth3/
        log.jsonl           begin (the plan and every original state), each step, end
        network-NAME.xml    a pool network's definition before it was stopped (restart, grow)
        udev-rule.prev      the udev rule file that was replaced (grow with --persist-numvfs)

The ``begin`` line holds what is needed to put everything back or finish: the guests with their
state, the networks that were active, the PF's VF count before and the one wanted. A record
without an ``end`` line after its last ``begin``/``reopen`` is unfinished (the session dropped, the
process was killed): ``vfpool-tui remedy resume`` finishes it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vfpool_tui.core.conversion.journal import Journal, Record, ensure_dir
from vfpool_tui.core.conversion.journal import _slug as slug  # the records' names, made the same way
from vfpool_tui.core.conversion.journal import new_record_dir, read_log_lines

REMEDIES = "remedies"


@dataclass(frozen=True)
class RemedyRecord:
    """A remedy record as read back from disk."""

    id: str
    path: Path
    kind: str
    started: float
    meta: dict  # the begin line (plan and originals)
    steps: tuple[dict, ...]  # every step line
    finished: bool
    result: str | None

    def done(self, step: str, state: str = "ok") -> bool:
        """A step line ``step`` with ``state`` was written."""
        return any(s.get("step") == step and s.get("state") == state for s in self.steps)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        status = self.result if self.finished else "UNFINISHED"
        return f"{self.id}  {self.meta.get('title', self.kind)}  {when}  {status}"


class RemedyJournal:
    """Remedy records under ``<journal dir>/remedies``."""

    def __init__(self, journal: Journal):
        self.journal = journal

    @property
    def dir(self) -> Path:
        return self.journal.dir / REMEDIES

    def begin(self, kind: str, target: str, **meta) -> Record:
        """Create the record and write its begin line (fsync'ed); only then may anything change."""
        ensure_dir(self.journal.dir)
        if not self.dir.exists():
            self.dir.mkdir(mode=0o700)
            os.chmod(self.dir, 0o700)
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{slug(target)}"
        path = new_record_dir(self.dir, base)
        try:
            os.chmod(path, 0o700)
            rec = Record(path)
            rec.append("begin", remedy=kind, target=target, pid=os.getpid(), **meta)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return rec

    def records(self) -> list[RemedyRecord]:
        if not self.dir.is_dir():
            return []
        out = [r for p in sorted(self.dir.iterdir()) if p.is_dir() and (r := read_remedy(p)) is not None]
        out.sort(key=lambda r: (r.started, r.id))
        return out

    def unfinished(self) -> list[RemedyRecord]:
        return [r for r in self.records() if not r.finished]


def read_remedy(path: Path) -> RemedyRecord | None:
    lines = read_log_lines(path / "log.jsonl")
    if lines is None:
        return None
    begin = next((ln for ln in lines if ln.get("kind") == "begin"), None)
    if begin is None:
        return None
    open_, result = False, None
    for ln in lines:
        if ln.get("kind") in ("begin", "reopen"):
            open_ = True
        elif ln.get("kind") == "end":
            open_, result = False, ln.get("result")
    return RemedyRecord(id=path.name, path=path, kind=str(begin.get("remedy", "")),
                        started=float(begin.get("t", 0)), meta=begin,
                        steps=tuple(ln for ln in lines if ln.get("kind") == "step"),
                        finished=not open_, result=None if open_ else result)
