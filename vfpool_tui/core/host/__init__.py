"""The host's SR-IOV hardware: PFs and VFs from pyudev and sysfs (``discovery``), VF admin settings
over netlink (``netlink``), udev change events (``udev_watch``), and writing ``sriov_numvfs`` plus
the boot-time udev rule (``sriov``).

Imports only ``core.model``, ``core.pci`` and ``core.wording``; never libvirt (that is ``core.virt``).
"""
