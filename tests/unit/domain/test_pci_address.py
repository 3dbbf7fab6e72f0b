"""PciAddress round-trips through its text form and orders like its fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfplane.domain.pci import MAX_BUS, MAX_DOMAIN, MAX_FUNCTION, MAX_SLOT, PciAddress
from vfplane.errors import InvalidPciAddress

addresses = st.builds(
    PciAddress,
    domain=st.integers(0, MAX_DOMAIN),
    bus=st.integers(0, MAX_BUS),
    slot=st.integers(0, MAX_SLOT),
    function=st.integers(0, MAX_FUNCTION),
)


def _key(address: PciAddress) -> tuple[int, int, int, int]:
    return (address.domain, address.bus, address.slot, address.function)


@given(addresses)
def test_text_form_round_trips(address: PciAddress) -> None:
    assert PciAddress.parse(str(address)) == address


@given(addresses, addresses)
def test_order_is_the_order_of_domain_bus_slot_function(a: PciAddress, b: PciAddress) -> None:
    assert (a < b) == (_key(a) < _key(b))
    assert (a == b) == (_key(a) == _key(b))
    assert (a <= b) == (_key(a) <= _key(b))


@given(st.lists(addresses, max_size=20))
def test_sorting_addresses_sorts_their_fields(items: list[PciAddress]) -> None:
    assert [_key(a) for a in sorted(items)] == sorted(_key(a) for a in items)


def test_domain_defaults_to_zero_and_wide_domains_parse() -> None:
    assert PciAddress.parse("0a:00.1") == PciAddress(0, 0x0A, 0, 1)
    assert str(PciAddress.parse("10000:01:00.0")) == "10000:01:00.0"


@pytest.mark.parametrize(
    "text", ["", "0000:0a:00", "0000:0a:00.8", "0000:0a:20.0", "0000:100:00.0", "zz:00.0"]
)
def test_malformed_addresses_are_rejected(text: str) -> None:
    with pytest.raises(InvalidPciAddress):
        PciAddress.parse(text)
