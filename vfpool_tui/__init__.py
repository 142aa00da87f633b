"""vfpool-tui: run SR-IOV NICs as libvirt pools of virtual functions."""

__version__ = "0.1.0"
