"""Run inside ``umockdev-run``: one scan of an emulated host, and the figures every view shows.

``python figures_probe.py URI`` prints one JSON object: for each view (the TUI's PF rows, pool rows
and pool summary lines, the header's problem count; ``scan --json`` and its text; ``pool list``;
``capacity --json``) the numbers it shows, read back from what
the view produced (cell text, printed lines), so the test compares what an operator sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys


def _cli(*argv: str) -> str:
    from vfpool_tui.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(list(argv))
    if rc != 0:
        raise SystemExit(f"vfpool-tui {' '.join(argv)} exited {rc}")
    return out.getvalue()


def main(uri: str) -> int:
    from vfpool_tui.commands.scan import render_text
    from vfpool_tui.core.capacity import problem_count
    from vfpool_tui.core.scan import scan, scan_to_json
    from vfpool_tui.tui import view

    result = scan(uri=uri, readonly=True)
    ix = view.Index(result)
    cols = [c for c, _ in view.PF_COLUMNS]
    tui_pfs = {r.key: {c: r.cells[cols.index(c)].plain for c in ("vfs", "pooled", "hard", "free")}
               for r in view.pf_rows(ix)}
    pcols = [c for c, _ in view.POOL_COLUMNS]
    tui_pools = {r.key: {c: r.cells[pcols.index(c)].plain for c in ("used", "free")}
                 for r in view.pool_rows(ix)}
    tui_lines = {p.name: view.pool_line(p, name_width=max(len(p.name), 1)).plain for p in result.pools}
    tui_vf_states = {pci: str(ix.vf_state(pci)) for pf in result.host.pfs for pci in (v.pci for v in pf.vfs)}

    data = scan_to_json(result)
    text = render_text(data)
    pf_lines = {m.group(1): m.group(0) for m in re.finditer(r"^PF (\S+) .*$", text, re.M)}
    enabled_lines = re.findall(r"^  \d+ of \d+ VFs enabled.*$", text, re.M)

    pool_list = _cli("--connect", uri, "--readonly", "pool", "list")
    capacity = json.loads(_cli("--connect", uri, "capacity", "--json"))

    print(json.dumps({
        "scan": data, "text": text, "pf_lines": pf_lines, "enabled_lines": enabled_lines,
        "tui_pfs": tui_pfs, "tui_pools": tui_pools, "tui_lines": tui_lines, "tui_vf_states": tui_vf_states,
        "header_problems": problem_count(result.problems).total, "problem_rows": len(view.problem_rows(ix)), "pool_list": pool_list, "capacity": capacity,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
