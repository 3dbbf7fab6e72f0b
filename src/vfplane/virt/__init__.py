"""Pure libvirt domain XML rendering from port bindings and PCI devices (no I/O)."""
