"""vfplane: an SR-IOV network control plane for KVM/libvirt clusters."""

__version__ = "0.1.0"
