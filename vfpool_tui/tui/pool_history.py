"""Each pool's use over this session, one sample per scan, drawn as a small sparkline.

An exhaustion that came and went between two looks still shows: a red bar where the pool had no
free VF, and the peak with the time it was first seen full.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rich.text import Text

from vfpool_tui.core.model import Scan

BLOCKS = "▁▂▃▄▅▆▇█"
SAMPLES = 48  # per pool; older samples are dropped


@dataclass(frozen=True)
class Sample:
    when: str  # wall clock of the scan ("12:03:04")
    taken: int  # in use + blocked
    capacity: int | None
    full: bool  # no VF free (active pool)


class PoolHistory:
    def __init__(self, samples: int = SAMPLES) -> None:
        self._samples = samples
        self._by_pool: dict[str, deque[Sample]] = {}

    def record(self, scan: Scan, when: str) -> None:
        for p in scan.pools:
            q = self._by_pool.setdefault(p.name, deque(maxlen=self._samples))
            q.append(Sample(when, p.in_use + p.blocked, p.capacity,
                            bool(p.active and p.free is not None and p.free <= 0 and p.capacity)))

    def samples(self, pool: str) -> tuple[Sample, ...]:
        return tuple(self._by_pool.get(pool, ()))

    def sparkline(self, pool: str, width: int = 12) -> Text:
        """The last ``width`` samples; ``█`` = every VF taken (red when the pool was full)."""
        out = Text(no_wrap=True)
        for s in self.samples(pool)[-width:]:
            if not s.capacity:
                out.append("·", style="dim")
                continue
            level = min(len(BLOCKS) - 1, round((len(BLOCKS) - 1) * s.taken / s.capacity))
            out.append(BLOCKS[level], style="bold red" if s.full else "cyan")
        return out

    def summary(self, pool: str) -> str:
        """``peak 8/8 · full at 12:03:04 (3 of 20 scans)``, or "" without samples."""
        samples = self.samples(pool)
        if not samples:
            return ""
        peak = max(samples, key=lambda s: s.taken)
        cap = "?" if peak.capacity is None else peak.capacity
        text = f"peak {peak.taken}/{cap} over {len(samples)} scans since {samples[0].when}"
        full = [s for s in samples if s.full]
        if full:
            text += f" · full in {len(full)} of them, first at {full[0].when}"
        return text
