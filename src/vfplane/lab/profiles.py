"""Hardware profiles of real SR-IOV NICs, as their sysfs trees show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HardwareProfile:
    """One NIC model: PCI ids, drivers, VF routing-id layout and netdev naming."""

    name: str
    title: str
    vendor_id: str
    pf_product_id: str
    vf_product_id: str
    pf_driver: str
    vf_driver: str
    total_vfs: int
    ports: int
    first_vf_offset: int
    vf_stride: int = 1
    interleaved: bool = False
    pf_ifname_suffix: str = ""
    phys_port_names: bool = False
    subsystem_device: str = "0000"
    mac_prefix: str = "02:00:00"

    def vf_offset(self, port: int) -> int:
        """``sriov_offset`` of the PF on function ``port`` of the card.

        Block layouts give each PF a run of ``total_vfs`` routing ids after the
        first offset; interleaved layouts (82599) share one offset and a stride.
        """
        if self.interleaved:
            return self.first_vf_offset
        return self.first_vf_offset + port * self.total_vfs - port

    def routing_ids_used(self) -> int:
        """Routing ids (functions) one card occupies, VFs included, from its first PF."""
        last_port = self.ports - 1
        last_vf = last_port + self.vf_offset(last_port) + (self.total_vfs - 1) * self.vf_stride
        return last_vf + 1

    def pf_ifname(self, card: int, port: int) -> str:
        suffix = self.pf_ifname_suffix.format(port=port)
        return f"ens{card}f{port}{suffix}"

    def vf_ifname(self, card: int, port: int, index: int) -> str:
        return f"ens{card}f{port}v{index}"


PROFILES: dict[str, HardwareProfile] = {
    p.name: p
    for p in (
        HardwareProfile(
            name="x710",
            title="Intel X710 (i40e/iavf)",
            vendor_id="8086",
            pf_product_id="1572",
            vf_product_id="154c",
            pf_driver="i40e",
            vf_driver="iavf",
            total_vfs=64,
            ports=2,
            first_vf_offset=16,
            subsystem_device="0007",
            mac_prefix="3c:fd:fe",
        ),
        HardwareProfile(
            name="82599",
            title="Intel 82599ES (ixgbe/ixgbevf)",
            vendor_id="8086",
            pf_product_id="10fb",
            vf_product_id="10ed",
            pf_driver="ixgbe",
            vf_driver="ixgbevf",
            total_vfs=63,
            ports=2,
            first_vf_offset=128,
            vf_stride=2,
            interleaved=True,
            subsystem_device="000c",
            mac_prefix="90:e2:ba",
        ),
        HardwareProfile(
            name="e810",
            title="Intel E810-XXV (ice/iavf)",
            vendor_id="8086",
            pf_product_id="159b",
            vf_product_id="1889",
            pf_driver="ice",
            vf_driver="iavf",
            total_vfs=128,
            ports=2,
            first_vf_offset=8,
            subsystem_device="0003",
            mac_prefix="b4:96:91",
        ),
        HardwareProfile(
            name="cx5",
            title="Mellanox ConnectX-5 (mlx5_core)",
            vendor_id="15b3",
            pf_product_id="1017",
            vf_product_id="1018",
            pf_driver="mlx5_core",
            vf_driver="mlx5_core",
            total_vfs=127,
            ports=2,
            first_vf_offset=2,
            pf_ifname_suffix="np{port}",
            phys_port_names=True,
            subsystem_device="0007",
            mac_prefix="b8:ce:f6",
        ),
        HardwareProfile(
            name="cx6dx",
            title="Mellanox ConnectX-6 Dx (mlx5_core)",
            vendor_id="15b3",
            pf_product_id="101d",
            vf_product_id="101e",
            pf_driver="mlx5_core",
            vf_driver="mlx5_core",
            total_vfs=127,
            ports=2,
            first_vf_offset=2,
            pf_ifname_suffix="np{port}",
            phys_port_names=True,
            subsystem_device="0016",
            mac_prefix="0c:42:a1",
        ),
        HardwareProfile(
            name="vic",
            title="Cisco VIC (enic, 802.1Qbh)",
            vendor_id="1137",
            pf_product_id="0043",
            vf_product_id="0071",
            pf_driver="enic",
            vf_driver="enic",
            total_vfs=64,
            ports=2,
            first_vf_offset=8,
            subsystem_device="012e",
            mac_prefix="00:25:b5",
        ),
    )
}
