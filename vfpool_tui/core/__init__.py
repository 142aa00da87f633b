"""The UI-free core: host discovery, libvirt inventory, XML transforms, conversion engine.

Nothing under this package may import textual or rich (tests/test_core_standalone.py checks it).
"""
