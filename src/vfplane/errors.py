"""The one exception tree of vfplane.

Every error vfplane raises on purpose derives from ``VfplaneError``::

    VfplaneError
    ├── ConfigError                  bad configuration; the message names key and value
    │   ├── InvalidDeviceSpec        a [pci] device_spec entry (Nova's PciConfigInvalidSpec,
    │   │                            PciDeviceWrongAddressFormat, PciDeviceInvalidDeviceName,
    │   │                            PciDeviceInvalidPFRemoteManaged, ...)
    │   ├── InvalidAlias             a [pci] alias entry (Nova's PciInvalidAlias)
    │   └── InvalidDeviceMapping     physical_device_mappings / exclude_devices
    ├── InvalidPciAddress            a PCI address that does not parse
    ├── InvalidDomainSpec            what to plug cannot become libvirt domain XML (vif form,
    │                                missing PCI slot or VF netdev, bad MAC, VLAN or profileid)
    ├── DeviceStateError             an illegal device state transition
    │   ├── DeviceInvalidStatus      the device is not in a status the transition starts from
    │   ├── DeviceInvalidOwner       the device belongs to another instance
    │   ├── DeviceVFInvalidStatus    a PF whose VFs are in use
    │   └── DevicePFInvalidStatus    a VF whose PF is in use
    ├── HostError                    the host could not be read or changed
    │   ├── SysfsError               sysfs is missing or unusable at the given root
    │   ├── NicError                 a NIC operation failed; ``errno`` says how
    │   │   ├── DeviceNotFound       ENODEV/ENOENT/ENXIO: no such PF, VF or netdev
    │   │   ├── DeviceBusy           EBUSY: e.g. sriov_numvfs changed while VFs exist
    │   │   ├── OutOfRange           ERANGE: e.g. more VFs than sriov_totalvfs
    │   │   ├── NotSupported         EOPNOTSUPP/EINVAL: the NIC or driver refuses it
    │   │   └── PermissionDenied     EPERM/EACCES: not allowed to change the host
    │   └── HypervisorError          libvirt failed; libvirt's message included, ``code`` its number
    │       ├── HypervisorUnavailable  the connection cannot be opened, or was closed
    │       ├── DomainNotFound       no domain of that name
    │       ├── DomainExists         the name has another uuid, or the domain already runs
    │       ├── DomainXmlRejected    libvirt refuses the XML (parse error, unsupported device)
    │       └── HotplugUnsupported   the hypervisor cannot attach or detach devices live
    └── ApiError                     a request that cannot be served; ``status`` is its HTTP code
        ├── InvalidInput             400: a body or query value; the message names the field
        ├── Unauthorized             401: no, expired, revoked or unknown token; bad password
        ├── Forbidden                403: the caller's roles do not allow it
        ├── NotFound                 404: no such resource, or one the caller may not see
        └── Conflict                 409: in use, already taken, or changed meanwhile

This module imports nothing from the project, so every layer may import it.
"""

from __future__ import annotations


class VfplaneError(Exception):
    """Root of every error vfplane raises on purpose."""


class ConfigError(VfplaneError):
    """Configuration that cannot be used; the message names the key and the value."""


class InvalidDeviceSpec(ConfigError):
    """A [pci] device_spec entry is invalid."""


class InvalidAlias(ConfigError):
    """A [pci] alias entry is invalid."""


class InvalidDeviceMapping(ConfigError):
    """physical_device_mappings or exclude_devices is invalid."""


class InvalidPciAddress(VfplaneError, ValueError):
    """A string is not a PCI address of the form [dddd:]bb:ss.f."""


class InvalidDomainSpec(VfplaneError, ValueError):
    """A domain description that cannot be rendered as libvirt XML; the message says which part."""


class DeviceStateError(VfplaneError):
    """A device state transition that the PCI device rules forbid."""


class DeviceInvalidStatus(DeviceStateError):
    """The device is not in a status the transition may start from."""


class DeviceInvalidOwner(DeviceStateError):
    """The device is claimed or allocated by another instance."""


class DeviceVFInvalidStatus(DeviceStateError):
    """A PF cannot be used because some of its VFs are in use."""


class DevicePFInvalidStatus(DeviceStateError):
    """A VF cannot be used because its PF is in use."""


class HostError(VfplaneError):
    """The host could not be read or changed."""


class SysfsError(HostError):
    """sysfs is missing or unusable at the given root."""


class NicError(HostError):
    """A NIC operation failed; ``errno`` is the OS error number when there is one."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class DeviceNotFound(NicError):
    """The PF, VF or network interface does not exist (ENODEV, ENOENT, ENXIO)."""


class DeviceBusy(NicError):
    """The device is in use (EBUSY), e.g. a new sriov_numvfs while VFs exist."""


class OutOfRange(NicError):
    """A value is out of the device's range (ERANGE), e.g. above sriov_totalvfs."""


class NotSupported(NicError):
    """The NIC or its driver refuses the operation or value (EOPNOTSUPP, EINVAL)."""


class PermissionDenied(NicError):
    """The process may not change the host (EPERM, EACCES)."""


class HypervisorError(HostError):
    """libvirt failed; the message includes libvirt's, ``code`` is its error number if any."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class HypervisorUnavailable(HypervisorError):
    """The hypervisor connection cannot be opened, or was closed."""


class DomainNotFound(HypervisorError):
    """No domain has that name."""


class DomainExists(HypervisorError):
    """The name belongs to a domain with another uuid, or the domain is already running."""


class DomainXmlRejected(HypervisorError):
    """libvirt refuses the domain XML: it does not parse, or asks for something unsupported."""


class HotplugUnsupported(HypervisorError):
    """The hypervisor cannot attach or detach this device to a running domain."""


class ApiError(VfplaneError):
    """A request that cannot be served; ``status`` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind or type(self).__name__


class InvalidInput(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409
