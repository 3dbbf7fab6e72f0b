"""Passwords and tokens are never stored nor logged in the clear."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, text

from tests.functional.api.conftest import PASSWORD, Api
from tests.functional.security.accounts import TOKENS, V3, login, new_member
from vfplane.service.identity import token_digest
from vfplane.service.passwords import verify_password


def _rows(engine: Engine, table: str) -> list[str]:
    """Every row of ``table`` as one string of all its values, read with plain SQL."""
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT * FROM {table}")).all()
    return [" ".join(str(value) for value in row) for row in rows]


def test_the_users_table_holds_scrypt_hashes_only(api: Api) -> None:
    account = new_member(api)
    engine = api.deps.sessions.kw["bind"]
    rows = _rows(engine, "users")
    assert len(rows) >= 7
    for row in rows:
        assert PASSWORD not in row
        assert account.password not in row
    with engine.connect() as connection:
        hashes = dict(connection.execute(text("SELECT name, password_hash FROM users")).all())
    assert all(h.startswith("scrypt$") for h in hashes.values())
    assert len(set(hashes.values())) == len(hashes)  # salted: same password, different hashes
    assert verify_password(account.password, hashes[account.name])
    assert not verify_password(PASSWORD, hashes[account.name])


def test_the_tokens_table_holds_digests_only(api: Api) -> None:
    token = login(api, new_member(api))
    rows = _rows(api.deps.sessions.kw["bind"], "tokens")
    assert not any(token in row for row in rows)
    assert sum(token_digest(token) in row for row in rows) == 1


def _secret_lives(api: Api, password: str, token: str) -> None:
    """Use ``token`` and the identity API the ways a client does, successes and failures."""
    headers = {"X-Auth-Token": token}
    for path in ("/network/v2.0/networks", "/compute/v2.1/servers", "/v1/hosts", "/nope"):
        api.client.get(path, headers=headers)
    api.client.post("/network/v2.0/ports", headers=headers, json={"port": {"network_id": "x"}})
    api.client.get(TOKENS, headers={**headers, "X-Subject-Token": token})
    wrong = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": password}}}}}  # fmt: skip
    api.post(None, TOKENS, wrong)  # wrong password for demo: 401
    broken = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": password, "domain": 7}}}}}  # fmt: skip
    assert api.post(None, TOKENS, broken).status_code == 400
    api.client.delete(TOKENS, headers={**headers, "X-Subject-Token": token})
    api.client.get("/network/v2.0/networks", headers=headers)  # 401 now


def test_no_password_or_token_in_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "httpx", "vfplane", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    account = new_member(api)
    body = {"user": {"password": f"{account.password}-2"}}
    changed = api.call("admin", "PATCH", f"{V3}/users/{account.user_id}", json=body)
    assert changed.status_code == 200
    new_password = f"{account.password}-2"
    token = login(api, type(account)(account.name, account.user_id, new_password))
    _secret_lives(api, new_password, token)
    assert caplog.records, "nothing was logged: the capture does not work"
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    secrets = (account.password, new_password, token, *api.tokens.values())
    for record in caplog.records:
        logged = " ".join((record.getMessage(), str(record.args), record.exc_text or ""))
        for secret in secrets:
            assert secret not in logged, f"{record.name} logged a secret: {logged[:200]}"
    assert not any(s in r.getMessage() for s in secrets for r in caplog.records)


def test_faults_do_not_echo_the_secrets(api: Api) -> None:
    account = new_member(api)
    token = login(api, account)
    wrong = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": account.name, "domain": {"id": "default"}, "password": 12345}}}}}  # fmt: skip
    assert "12345" not in api.post(None, TOKENS, wrong).text
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert api.client.delete(TOKENS, headers=headers).status_code == 204
    for response in (
        api.client.get("/network/v2.0/networks", headers=headers),
        api.get("admin", TOKENS, headers={"X-Subject-Token": token}),
        api.delete("admin", TOKENS, headers={"X-Subject-Token": token}),
    ):
        assert response.status_code in (401, 404)
        assert token not in response.text
