"""Servers (instances) and their actions; the rest of the schema is in ``tables.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vfplane.db.tables import NAME_LENGTH, UUID_LENGTH, Base


class Server(Base):
    """An instance: what was asked, where it landed, and how far it got."""

    __tablename__ = "servers"
    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    flavor_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    flavor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    image_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), nullable=True)
    image_location: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True, index=True)
    vm_state: Mapped[str] = mapped_column(String(16), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="BUILD", index=True)
    fault: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    ports: Mapped[list[Any]] = mapped_column(default=list)
    created_ports: Mapped[list[Any]] = mapped_column(default=list)
    pci_requests: Mapped[list[Any]] = mapped_column(default=list)
    # Read only by the explain and domain-XML endpoints: loaded when first touched, so the
    # polls of GET /servers/{id} do not read kilobytes of XML and host reasons each time.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(nullable=True, deferred=True)
    domain_xml: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reboot_type: Mapped[str | None] = mapped_column(String(8), nullable=True)
    numa_nodes: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())
    launched_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class InstanceAction(Base):
    """Nova's instance actions: what was done to a server, by whom, and how it ended."""

    __tablename__ = "instance_actions"
    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    project_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    start_time: Mapped[datetime] = mapped_column(DateTime())
    finish_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
