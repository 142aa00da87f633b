#!/usr/bin/env python3
"""Capture the TUI's main views on the demo host into screenshots/ (SVG) and its index README.

    .venv/bin/python tools/screenshots.py

Runs the real app (real discovery under umockdev-run, real libvirt test driver, real Backend),
headless, at 80x24 and 160x48; the clock in the banner is frozen so captures only change when the
UI does. Never edit the files in screenshots/ by hand: run this again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"
sys.path.insert(0, str(ROOT))

# (file stem, title, keys pressed after the first scan ("wait": pause 1 s), sizes)
VIEWS = [
    ("host", "Host overview: PFs, tasks, the selected PF's VFs, pools",
     [], [(80, 24), (160, 48)]),
    ("host-vfs", "Drilled into a PF: hard-coded, free and conflicting VFs",
     ["down", "enter"], [(80, 24)]),
    ("guests", "Guests: VF use and conversion candidates", ["g"], [(80, 24), (160, 48)]),
    ("pools", "Pools: capacity bars; FULL and INACTIVE stand out", ["o"], [(80, 24), (160, 48)]),
    ("problems", "Problems, each with its explanation", ["p"], [(80, 24), (160, 48)]),
    ("troubleshoot", "Troubleshoot: pools worst first, who waits / blocks / holds, what to do",
     ["t"], [(80, 24), (160, 48)]),
    ("troubleshoot-why", "Why a waiting guest does not start (w), with what to do",
     ["t", "enter", "down", "w"], [(80, 24)]),
    ("vf-details", "Details of a VF: sysfs facts, holder, problem, device XML",
     ["enter", "down", "down", "down", "down", "d"], [(80, 24), (160, 48)]),
    ("help", "Help: keys from the live bindings, VF markers", ["question_mark"], [(80, 24)]),
    ("filter", "Filtering the guest table with /", ["g", "slash", "l", "e", "g", "a", "c", "y"],
     [(80, 24)]),
    ("pool-wizard", "Pool wizard: name checked as you type, the exact network XML beside it",
     ["n", "down", "enter"], [(80, 24), (160, 48)]),
    ("convert", "Convert guests: mark hard-coded guests, the pool on their PF, the plan",
     ["c", "wait", "space", "wait"], [(80, 24), (160, 48)]),
    ("convert-review", "Convert guests: the XML diff of each guest before anything changes",
     ["c", "wait", "space", "wait", "enter", "wait"], [(80, 24), (160, 48)]),
]


def _reexec_under_umockdev() -> None:
    from vfpool_tui.demo import HOST_UMOCKDEV

    if os.environ.get("UMOCKDEV_DIR"):
        return
    runner = shutil.which("umockdev-run")
    if runner is None:
        sys.exit("tools/screenshots.py needs umockdev-run (apt-get install umockdev)")
    os.execv(runner, [runner, "-d", str(HOST_UMOCKDEV), "--", sys.executable, *sys.argv])


async def capture(stem: str, keys: list[str], size: tuple[int, int]) -> Path:
    from vfpool_tui.demo import demo_uri
    from vfpool_tui.tui.app import TuiSettings, make_app

    app = make_app(TuiSettings(uri=demo_uri(), readonly=False, demo=True, watch_udev=False,
                               clock=lambda: "12:00:00", is_root=False, animate=False))
    path = OUT / f"{stem}-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        for _ in range(300):
            if app.scans_applied:
                break
            await pilot.pause(0.05)
        else:
            raise SystemExit("no scan arrived from the demo host")
        for key in keys:
            if key == "wait":  # let a worker (a plan on the libvirt thread) finish
                await pilot.pause(1.0)
                continue
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        app.save_screenshot(filename=path.name, path=str(OUT))
    return path


def main() -> int:
    _reexec_under_umockdev()
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.svg"):
        old.unlink()
    lines = [
        "# Screenshots",
        "",
        "Current captures of vfpool-tui on the built-in demo host, made by `tools/screenshots.py`",
        "(do not edit by hand; run `.venv/bin/python tools/screenshots.py` after a UI change).",
        "",
    ]
    for stem, title, keys, sizes in VIEWS:
        lines += [f"## {title}", ""]
        for size in sizes:
            path = asyncio.run(capture(stem, keys, size))
            print(f"wrote {path.relative_to(ROOT)}")
            lines += [f"{size[0]}x{size[1]}:", "", f"![{title} ({size[0]}x{size[1]})]({path.name})", ""]
    (OUT / "README.md").write_text("\n".join(lines))
    print(f"wrote {(OUT / 'README.md').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
