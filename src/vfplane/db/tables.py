"""The database schema: SQLAlchemy 2 declarative tables.

Alembic migrations in ``db/migrations`` create and change these tables; tests
check that the migrations and these models agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UUID_LENGTH = 36
NAME_LENGTH = 255


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


def _id() -> Mapped[str]:
    return mapped_column(String(UUID_LENGTH), primary_key=True)


def _project_id() -> Mapped[str]:
    return mapped_column(String(UUID_LENGTH), index=True)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())
    revision_number: Mapped[int] = mapped_column(Integer, default=1)


# --- identity ---------------------------------------------------------------


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    domain_id: Mapped[str] = mapped_column(String(64), default="default")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    domain_id: Mapped[str] = mapped_column(String(64), default="default")
    password_hash: Mapped[str] = mapped_column(String(512))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    # An agent's account: its tokens may act for this host only.
    host: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class Token(Base):
    """An issued token; only its SHA-256 digest is stored."""

    __tablename__ = "tokens"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    audit_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime(), index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# --- networking -------------------------------------------------------------


class Network(Timestamps, Base):
    __tablename__ = "networks"
    __table_args__ = (
        Index(
            "uq_networks_vlan_segment",
            "physical_network",
            "segmentation_id",
            unique=True,
            sqlite_where=text("network_type = 'vlan'"),
            postgresql_where=text("network_type = 'vlan'"),
        ),
        Index(
            "uq_networks_flat_segment",
            "physical_network",
            unique=True,
            sqlite_where=text("network_type = 'flat'"),
            postgresql_where=text("network_type = 'flat'"),
        ),
    )
    id: Mapped[str] = _id()
    project_id: Mapped[str] = _project_id()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    network_type: Mapped[str] = mapped_column(String(16))
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_profile: Mapped[str | None] = mapped_column(String(64), nullable=True)
    qos_policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("qos_policies.id", ondelete="RESTRICT"), nullable=True
    )
    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network", order_by="Subnet.created_at", lazy="selectin"
    )


class Subnet(Timestamps, Base):
    __tablename__ = "subnets"
    id: Mapped[str] = _id()
    project_id: Mapped[str] = _project_id()
    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    allocation_pools: Mapped[list[Any]] = mapped_column(default=list)
    dns_nameservers: Mapped[list[Any]] = mapped_column(default=list)
    host_routes: Mapped[list[Any]] = mapped_column(default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    network: Mapped[Network] = relationship(back_populates="subnets")


class IpAllocation(Base):
    """One address of a subnet held by one port; the primary key makes it unique."""

    __tablename__ = "ip_allocations"
    subnet_id: Mapped[str] = mapped_column(
        ForeignKey("subnets.id", ondelete="CASCADE"), primary_key=True
    )
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), index=True)


class Port(Timestamps, Base):
    __tablename__ = "ports"
    id: Mapped[str] = _id()
    project_id: Mapped[str] = _project_id()
    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(NAME_LENGTH), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    qos_policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("qos_policies.id", ondelete="RESTRICT"), nullable=True
    )
    trusted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    propagate_uplink_status: Mapped[bool] = mapped_column(Boolean, default=False)
    # The API call that last changed what an agent must do for the port (its logs carry it).
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fixed_ips: Mapped[list[IpAllocation]] = relationship(
        order_by="IpAllocation.ip_address", lazy="selectin", cascade="all, delete-orphan"
    )
    bindings: Mapped[list[PortBinding]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )


class PortBinding(Base):
    """A port's binding to a host; exactly one per port is ACTIVE (host '' when unbound)."""

    __tablename__ = "port_bindings"
    port_id: Mapped[str] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True, default="")
    vnic_type: Mapped[str] = mapped_column(String(32), default="normal")
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    vif_type: Mapped[str] = mapped_column(String(32), default="unbound")
    vif_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    failure_reasons: Mapped[list[Any]] = mapped_column(default=list)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("agent_type", "host", name="uq_agents_type_host"),)
    id: Mapped[str] = _id()
    agent_type: Mapped[str] = mapped_column(String(NAME_LENGTH))
    binary: Mapped[str] = mapped_column(String(NAME_LENGTH))
    host: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    topic: Mapped[str] = mapped_column(String(NAME_LENGTH), default="N/A")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    configurations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime())
    created_at: Mapped[datetime] = mapped_column(DateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime())
    description: Mapped[str] = mapped_column(Text, default="")


class QosPolicy(Timestamps, Base):
    __tablename__ = "qos_policies"
    id: Mapped[str] = _id()
    project_id: Mapped[str] = _project_id()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    rules: Mapped[list[QosRule]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="QosRule.id"
    )


class QosRule(Base):
    __tablename__ = "qos_rules"
    __table_args__ = (
        UniqueConstraint("policy_id", "rule_type", "direction", name="uq_qos_rules_kind"),
    )
    id: Mapped[str] = _id()
    policy_id: Mapped[str] = mapped_column(
        ForeignKey("qos_policies.id", ondelete="CASCADE"), index=True
    )
    rule_type: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16), default="egress")
    max_kbps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_burst_kbps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_kbps: Mapped[int | None] = mapped_column(Integer, nullable=True)


# --- hosts and their PCI devices -------------------------------------------------


class Host(Base):
    """A compute host as its agent registers it; ``revision`` moves when its desired state may."""

    __tablename__ = "hosts"
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    numa_topology: Mapped[list[Any]] = mapped_column(default=list)
    configurations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    inventory_generation: Mapped[int] = mapped_column(Integer, default=0)
    # Stamped whenever what the scheduler sees of the host changes (db/schedule_stamps.py).
    schedule_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class PciDeviceRecord(Base):
    __tablename__ = "pci_devices"
    __table_args__ = (
        UniqueConstraint("host", "address", name="uq_pci_devices_host_address"),
        # The dashboard's host pages: one physnet's hosts in name order.
        Index("ix_pci_devices_physnet_host", "physical_network", "host"),
    )
    id: Mapped[str] = _id()
    host: Mapped[str] = mapped_column(ForeignKey("hosts.name", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(16))
    vendor_id: Mapped[str] = mapped_column(String(4))
    product_id: Mapped[str] = mapped_column(String(4))
    dev_type: Mapped[str] = mapped_column(String(16))
    parent_addr: Mapped[str | None] = mapped_column(String(16), nullable=True)
    numa_node: Mapped[int | None] = mapped_column(Integer, nullable=True)
    driver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ifname: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pf_ifname: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mac: Mapped[str | None] = mapped_column(String(32), nullable=True)
    iommu_group: Mapped[int | None] = mapped_column(Integer, nullable=True)
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="available")
    instance_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    # A VF's state before the agent first changed it, as the agent reports it (None: untouched).
    saved_original: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)


# --- flavors and images --------------------------------------------------------


class Flavor(Base):
    """A Nova flavor; ``id`` is Nova's flavorid, a UUID unless the creator chose one."""

    __tablename__ = "flavors"
    id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)
    disk: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    extra_specs: Mapped[list[FlavorExtraSpec]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="FlavorExtraSpec.key"
    )
    access: Mapped[list[FlavorAccess]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="FlavorAccess.project_id"
    )

    @property
    def specs(self) -> dict[str, str]:
        return {spec.key: spec.value for spec in self.extra_specs}


class FlavorExtraSpec(Base):
    __tablename__ = "flavor_extra_specs"
    flavor_id: Mapped[str] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(NAME_LENGTH))


class FlavorAccess(Base):
    """A project that may use a private flavor."""

    __tablename__ = "flavor_access"
    flavor_id: Mapped[str] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)


class Image(Base):
    """A Glance image; ``location`` is where the disk is (a path or URL), never uploaded."""

    __tablename__ = "images"
    id: Mapped[str] = _id()
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    visibility: Mapped[str] = mapped_column(String(16), default="shared")
    disk_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    container_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())


# --- events ------------------------------------------------------------------------


class Event(Base):
    """What went wrong and why (a binding failed, no host was valid): append-only, pruned."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(), index=True)
    project_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    server_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    port_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    host: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
