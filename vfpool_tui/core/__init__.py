"""The UI-free core: what the TUI and the CLI (``vfpool-tui scan --json`` ...) both stand on.

One subpackage per job, in layers; a package imports only from the layers below it (the
import-linter contracts in ``pyproject.toml`` hold this, and ``tests/test_architecture.py`` runs them):

0. ``remedy``: carrying out the fixes the problems call for (release leaked VFs, restart a stale
   pool, grow a pooled PF), previewed, journalled and undone on failure; it scans again itself.
1. ``scan``: one look at the host and libvirt, put together (``scan()`` -> ``Scan``, and its JSON).
2. ``conversion`` | ``health`` | ``pools``: moving guests onto a pool; problems and capacity;
   creating a pool. Independent of each other.
3. ``host`` | ``virt``: the hardware (pyudev, sysfs, netlink); libvirt (connection, reading guests
   and networks, their XML). Independent of each other.
4. ``model``, ``pci``, ``wording``, ``capacity``, ``convertible``: the data model, PCI addresses,
   message helpers, the figures every view shows (who may hold each VF, counts per PF and pool,
   problems), and what the converter can take (shared by the planner and the advice).

Nothing under this package may import textual or rich (``tests/test_core_standalone.py`` checks it).
"""
