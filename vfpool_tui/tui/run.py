"""``vfpool-tui`` without a command: build the app from the command-line arguments and run it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vfpool_tui.tui.app import TuiSettings, make_app


def settings_from_args(args: argparse.Namespace) -> TuiSettings:
    demo = bool(getattr(args, "demo", False))
    readonly: bool | None = True if getattr(args, "readonly", False) else None
    if demo and readonly is None:
        readonly = False  # the demo's test:/// driver needs no root to change things
    journal = getattr(args, "journal_dir", None)
    connects = tuple(getattr(args, "connects", None) or ())
    discovery = getattr(args, "discovery", None)
    return TuiSettings(uri=getattr(args, "connect", None), readonly=readonly, demo=demo,
                       hosts=connects if len(connects) > 1 else (),
                       discovery=None if discovery in (None, "auto") else discovery,
                       journal_dir=Path(journal) if journal else None)


def run_tui(args: argparse.Namespace) -> int:
    app = make_app(settings_from_args(args))
    result = app.run()
    code = int(result or 0)
    from vfpool_tui.tui.libvirt_thread import any_busy

    if any_busy():
        # a host's libvirt call still hangs (a connect that never answers): the terminal is given
        # back and every journal is on disk, so leave now rather than let the interpreter end
        # around a thread inside libvirt's C code (it crashed with SIGSEGV that way)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
