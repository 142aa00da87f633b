"""``vfpool-tui demo-reset``: forget what ``--demo`` commands changed (demo/state.py)."""

from __future__ import annotations


def register(subparsers, parents) -> None:
    p = subparsers.add_parser("demo-reset", parents=parents, help="start the --demo commands afresh",
                              description="Remove the state that --demo commands share (the demo "
                                          "hypervisor as they left it, and its journal).")
    p.set_defaults(func=run_demo_reset)


def run_demo_reset(args) -> int:
    from vfpool_tui.demo import state as demo_state

    gone = demo_state.reset()
    print(f"removed {gone}" if gone else f"no demo state in {demo_state.state_dir()}")
    return 0
