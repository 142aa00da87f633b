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
COMMAND_MODULES = ("scan", "pool", "convert", "journal", "remedy", "diagnose", "doctor", "demo_reset")


def global_options(connect_dest: str = "connect") -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name. (argparse lets a
    sub-command's namespace replace the main one's values: the --connect given before the command
    name goes to another ``connect_dest`` so that both are kept.)"""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--connect", "-c", metavar="URI", action="append", dest=connect_dest,
                   default=argparse.SUPPRESS,
                   help="libvirt URI (default: what libvirt picks, like virsh)")
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                   help="run against the built-in demo hypervisor (no SR-IOV hardware needed)")
    p.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS,
                   help="open libvirt read-only and disable every change")
    p.add_argument("--discovery", choices=("auto", "udev", "libvirt"), default=argparse.SUPPRESS,
                   help="how the host's SR-IOV cards are found: udev (this machine's sysfs), libvirt "
                        "(the node-device API of the host behind --connect); auto (default): libvirt "
                        "when the URI names another machine")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = global_options()
    parser = argparse.ArgumentParser(
        prog="vfpool-tui",
        description="Run SR-IOV NICs as libvirt pools of virtual functions.",
        parents=[global_options("connect_before")],
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
    for key, default in (("connect", None), ("demo", False), ("readonly", False), ("discovery", "auto")):
        if not hasattr(args, key):
            setattr(args, key, default)
    # --connect may be given more than once (several hosts): `connects` has them all, `connect` the
    # first, for the commands that work on one host
    given = [*(getattr(args, "connect_before", None) or ()), *(args.connect or ())]
    args.connects = list(dict.fromkeys(given))
    args.connect = args.connects[0] if args.connects else None
    return args


MULTI_HOST_COMMANDS = ("scan", "doctor")  # metrics: one host per textfile, as node_exporter runs on each


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

    if len(args.connects) > 1 and args.command is not None and args.command not in MULTI_HOST_COMMANDS:
        parser.error(f"{args.command} works on one host: give --connect once "
                     f"(several hosts: {', '.join(MULTI_HOST_COMMANDS)} and the TUI)")
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
