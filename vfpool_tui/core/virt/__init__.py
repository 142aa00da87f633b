"""libvirt: the connection (``connection``, ``libvirt_events``), reading guests and pool networks
(``inventory``, ``domain_xml``, ``network_xml``, ``xmlutil``), a guest's state (``domain_state``,
``node_state``), and comparing and defining its XML (``definitions``).

Imports only ``core.model``, ``core.pci`` and ``core.wording``; never the hardware side (``core.host``).
"""
