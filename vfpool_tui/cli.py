"""Command line entry point: ``vfpool-tui [global options] [COMMAND ...]``.

Without a command the Textual app opens. Sub-commands live in ``vfpool_tui/commands/<name>.py``;
each module has ``register(subparsers, parents)`` that adds its parser and sets ``func(args) -> int``.
Nothing here imports Textual unless the TUI is what was asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vfpool_tui import __version__
from vfpool_tui.errors import CommandError

# sub-command modules, in the order `--help` lists them
COMMAND_MODULES = ("scan", "pool", "convert", "journal", "diagnose", "doctor", "demo_reset")


def global_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--connect", "-c", metavar="URI", default=argparse.SUPPRESS,
                   help="libvirt URI (default: what libvirt picks, like virsh)")
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                   help="run against the built-in demo hypervisor (no SR-IOV hardware needed)")
    p.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS,
                   help="open libvirt read-only and disable every change")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = global_options()
    parser = argparse.ArgumentParser(
        prog="vfpool-tui",
        description="Run SR-IOV NICs as libvirt pools of virtual functions.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"vfpool-tui {__version__}")
    parser.add_argument("--journal-dir", metavar="DIR", default=None,
                        help="the TUI's conversion journal (default /var/lib/vfpool-tui; "
                             "a private temporary one with --demo)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"vfpool_tui.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"vfpool_tui.commands.{name}":
                continue  # command not built yet
            raise
        mod.register(sub, [common])
    return parser


def _finish_args(args: argparse.Namespace) -> argparse.Namespace:
    for key, default in (("connect", None), ("demo", False), ("readonly", False)):
        if not hasattr(args, key):
            setattr(args, key, default)
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        from vfpool_tui.demo import demo_argv

        argv = demo_argv()  # set when --demo re-executed us under umockdev-run
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = _finish_args(parser.parse_args(argv))

    if args.demo:
        from vfpool_tui.demo import enter_demo

        if args.connect:
            parser.error("--demo and --connect cannot be used together")
        if getattr(args, "journal_dir", None):
            parser.error("--demo keeps its journal in its own private directory: no --journal-dir")
        try:
            args.connect = enter_demo(argv)  # may re-exec under umockdev-run and not return
            from vfpool_tui.demo import demo_paths, start_emulated_kernel

            demo_paths()  # the private directory for all the demo writes (removed at exit)
            start_emulated_kernel()
        except CommandError as err:
            print(f"vfpool-tui: {err}", file=sys.stderr)
            return err.status
        if args.command is not None:  # CLI commands share one demo state, journal included
            from vfpool_tui.demo import state as demo_state

            try:
                args.connect = demo_state.prepare()
            except OSError as err:
                print(f"vfpool-tui: the demo's state cannot be kept: {err}", file=sys.stderr)
                return 2
            if getattr(args, "journal_dir", None) is None:
                args.journal_dir = str(demo_state.journal_dir())

    try:
        if args.command is None:
            from vfpool_tui.tui.run import run_tui  # Textual only from here

            return run_tui(args)
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"vfpool-tui: {err}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        print("vfpool-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
