"""Passwords are stored as salted scrypt hashes."""

from __future__ import annotations

from vfplane.service.passwords import hash_password, verify_password


def test_hash_and_verify() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$")
    assert "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("wrong", stored)
    assert hash_password("s3cret") != stored  # salted


def test_garbage_hashes_never_verify() -> None:
    assert not verify_password("x", "")
    assert not verify_password("x", "md5$abc")
    assert not verify_password("x", "bcrypt$1$2$3$4$5")
