"""Pools as capacity bars, one line each; a full or inactive pool stands out."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from vfpool_tui.tui.view import Index, pool_line


class PoolSummary(Static):
    DEFAULT_CSS = """
    PoolSummary { height: auto; max-height: 8; }
    """

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self._last: Text | None = None

    def show(self, ix: Index, width: int) -> None:
        pools = sorted(ix.scan.pools, key=lambda p: p.name)
        if not pools:
            text = Text("No pool yet. Press n to create one from a PF: guests then ask the pool for a VF "
                        "instead of naming one.", style="italic")
        else:
            name_w = max(6, min(16, max(len(p.name) for p in pools)))
            bar_w = 10 if width < 100 else 24
            text = Text("\n").join(pool_line(p, name_w, bar_w) for p in pools)
        if text != self._last:  # unchanged pools: no repaint
            self._last = text
            self.update(text)
