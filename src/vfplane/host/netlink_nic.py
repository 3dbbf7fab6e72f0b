"""The real NIC: VF configs over rtnetlink (pyroute2), VF counts through sysfs.

Reads ask the PF for ``IFLA_VFINFO_LIST`` (``ext_mask`` RTEXT_FILTER_VF); writes
send one ``RTM_SETLINK`` with the VF attributes that change, both rates together in
one ``IFLA_VF_RATE`` (Neutron bug 1962844). Netlink and OS errors become
``NicError`` subclasses by errno.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import NicError
from vfplane.host.nic import nic_errors, pf_device_dir, read_numvfs

RTEXT_FILTER_VF = 1
NETNS_RUN_DIR = "/run/netns"
_LINK_STATES = (LinkState.AUTO, LinkState.ENABLE, LinkState.DISABLE)
"""IFLA_VF_LINK_STATE_AUTO, _ENABLE and _DISABLE are 0, 1 and 2."""


class NetlinkNic:
    """A ``NicDriver`` for the host's kernel; ``netns`` names a network namespace to use."""

    def __init__(self, root: Path = Path("/"), *, netns: str | None = None) -> None:
        self.root = root
        self.netns = netns

    def ifindex(self, ifname: str) -> int:
        """The interface index of ``ifname``; raises ``DeviceNotFound``."""
        with self._ipr(f"look up network interface {ifname!r}") as ipr:
            return int(_get_link(ipr, ifname)["index"])

    def read_vfs(self, pf_ifname: str) -> dict[int, VfConfig]:
        with self._ipr(f"read the VFs of {pf_ifname}") as ipr:
            return vfs_from_link(_get_link(ipr, pf_ifname))

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        """Make the VF equal ``config``, sending only the attributes that differ.

        Unchanged attributes stay out of the request: drivers without a knob (igb has
        no link state, older ones no trust) refuse any request that carries it, and
        i40e resets the VF for every MAC it is sent. Rates always go as a pair.
        """
        with self._ipr(f"set VF {vf_index} of {pf_ifname}") as ipr:
            link = _get_link(ipr, pf_ifname)
            request = vf_request(vf_index, config, vfs_from_link(link).get(vf_index))
            if len(request) > 1:
                ipr.link("set", index=link["index"], vf=request)

    def write_vfs(self, pf_ifname: str, configs: Mapping[int, VfConfig]) -> dict[int, NicError]:
        """``write_vf`` for several VFs over one socket and one read of the PF's VF list
        (``BatchWriter``): the list of a 128-VF PF is the costly part of a write."""
        failures: dict[int, NicError] = {}
        with self._ipr(f"set the VFs of {pf_ifname}") as ipr:
            link = _get_link(ipr, pf_ifname)
            current = vfs_from_link(link)
            for index, config in configs.items():
                request = vf_request(index, config, current.get(index))
                if len(request) == 1:
                    continue
                try:
                    with nic_errors(f"set VF {index} of {pf_ifname}", also=(NetlinkError,)):
                        ipr.link("set", index=link["index"], vf=request)
                except NicError as exc:
                    failures[index] = exc
        return failures

    def numvfs(self, pf_address: PciAddress) -> int:
        return read_numvfs(self.root, pf_address)

    def set_numvfs(self, pf_address: PciAddress, count: int) -> None:
        path = pf_device_dir(self.root, pf_address) / "sriov_numvfs"
        with nic_errors(f"write {count} to {path}"):
            path.write_text(f"{count}\n")

    @contextmanager
    def _ipr(self, action: str) -> Iterator[Any]:
        options: dict[str, Any] = {}
        with nic_errors(action, also=(NetlinkError,)):
            if self.netns:
                # Checked here: pyroute2 would create a missing namespace (flags=0 stops
                # that) and leaks its event loop when the namespace cannot be opened.
                path = Path(NETNS_RUN_DIR, self.netns)
                if not path.exists():
                    raise FileNotFoundError(errno.ENOENT, "no such network namespace", str(path))
                options = {"netns": str(path), "flags": 0}
            with IPRoute(**options) as ipr:
                yield ipr


def _get_link(ipr: Any, ifname: str) -> Any:
    links = ipr.link("get", ifname=ifname, ext_mask=RTEXT_FILTER_VF)
    if not links:
        raise NicError(f"the kernel returned no link for {ifname!r}")
    return links[0]


def vf_request(vf_index: int, config: VfConfig, current: VfConfig | None = None) -> dict[str, Any]:
    """The ``vf=`` argument of pyroute2's ``link("set")``.

    Every field of ``config``, or with ``current`` only those that differ from it.
    """
    attributes: dict[str, tuple[tuple[Any, ...], Any]] = {
        "mac": ((config.mac,), config.mac),
        "vlan": ((config.vlan, config.qos), {"vlan": config.vlan, "qos": config.qos}),
        "rate": (
            (config.min_tx_rate, config.max_tx_rate),
            {"min_tx_rate": config.min_tx_rate, "max_tx_rate": config.max_tx_rate},
        ),
        "spoofchk": ((config.spoofchk,), int(config.spoofchk)),
        "link_state": ((config.link_state,), _LINK_STATES.index(config.link_state)),
        "trust": ((config.trust,), int(config.trust)),
    }
    request: dict[str, Any] = {"vf": vf_index}
    for name, (wanted, value) in attributes.items():
        if current is None or _values(current, name) != wanted:
            request[name] = value
    return request


def _values(config: VfConfig, attribute: str) -> tuple[Any, ...]:
    fields = {"vlan": ("vlan", "qos"), "rate": ("min_tx_rate", "max_tx_rate")}
    return tuple(getattr(config, name) for name in fields.get(attribute, (attribute,)))


def vfs_from_link(link: Any) -> dict[int, VfConfig]:
    """The VF configs in an RTM_NEWLINK message; empty when it has no IFLA_VFINFO_LIST."""
    vflist = link.get_attr("IFLA_VFINFO_LIST")
    if vflist is None:
        return {}
    vfs: dict[int, VfConfig] = {}
    for info in vflist.get_attrs("IFLA_VF_INFO"):
        mac = info.get_attr("IFLA_VF_MAC")
        if mac is None:
            continue
        vfs[int(mac["vf"])] = _vf_config(info, mac["mac"])
    return vfs


def _vf_config(info: Any, mac: str) -> VfConfig:
    vlan = info.get_attr("IFLA_VF_VLAN")
    rate = info.get_attr("IFLA_VF_RATE")
    tx_rate = info.get_attr("IFLA_VF_TX_RATE")
    link_state = _field(info, "IFLA_VF_LINK_STATE", "link_state")
    if rate is not None:
        min_rate, max_rate = int(rate["min_tx_rate"]), int(rate["max_tx_rate"])
    else:
        min_rate, max_rate = 0, int(tx_rate["tx_rate"]) if tx_rate is not None else 0
    return VfConfig(
        mac=mac,
        vlan=int(vlan["vlan"]) if vlan is not None else 0,
        qos=int(vlan["qos"]) if vlan is not None else 0,
        spoofchk=_flag(_field(info, "IFLA_VF_SPOOFCHK", "spoofchk"), default=True),
        trust=_flag(_field(info, "IFLA_VF_TRUST", "trust"), default=False),
        link_state=_LINK_STATES[link_state] if link_state in (0, 1, 2) else LinkState.AUTO,
        min_tx_rate=min_rate,
        max_tx_rate=max_rate,
    )


def _field(info: Any, attr: str, name: str) -> int | None:
    value = info.get_attr(attr)
    return int(value[name]) if value is not None else None


def _flag(value: int | None, *, default: bool) -> bool:
    """0 or 1; drivers without the knob leave the kernel's -1 (u32 max), read as ``default``."""
    return bool(value) if value in (0, 1) else default
