"""Tokens die when they expire or are revoked, to the microsecond and despite the token cache."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.functional.api.conftest import Api
from tests.functional.security.accounts import TOKENS, login, new_member

PROBE = "/network/v2.0/networks"


def status(api: Api, token: str, path: str = PROBE) -> int:
    return api.client.get(path, headers={"X-Auth-Token": token}).status_code


def _freeze(api: Api, moment: datetime) -> None:
    api.deps.clock = lambda: moment


def test_a_token_expires_exactly_at_expires_at_even_when_cached(api: Api) -> None:
    issued_at = api.deps.clock()
    _freeze(api, issued_at)
    token = login(api, new_member(api))
    expires_at = issued_at + timedelta(seconds=api.deps.settings.identity.token_lifetime)
    assert status(api, token) == 200  # validated from the database, now in the cache
    assert api.deps.tokens.get(token, issued_at) is not None
    _freeze(api, expires_at - timedelta(microseconds=1))
    assert status(api, token) == 200
    _freeze(api, expires_at)
    response = api.client.get(PROBE, headers={"X-Auth-Token": token})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Keystone")
    assert api.deps.tokens.get(token, expires_at) is None
    subject = {"X-Subject-Token": token}
    assert api.get("admin", TOKENS, headers=subject).status_code == 404  # not valid any more


def test_the_token_lifetime_setting_is_honoured(api: Api) -> None:
    lifetime = 300
    settings = api.deps.settings
    identity = settings.identity.model_copy(update={"token_lifetime": lifetime})
    api.deps.settings = settings.model_copy(update={"identity": identity})
    issued_at = api.deps.clock()
    _freeze(api, issued_at)
    token = login(api, new_member(api))
    assert status(api, token) == 200
    _freeze(api, issued_at + timedelta(seconds=lifetime))
    assert status(api, token) == 401


def test_a_revoked_token_is_refused_at_once_although_cached(api: Api) -> None:
    token = login(api, new_member(api))
    assert status(api, token) == 200
    assert api.deps.tokens.get(token, api.deps.clock()) is not None
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert api.client.delete(TOKENS, headers=headers).status_code == 204
    assert status(api, token) == 401
    assert status(api, token, "/compute/v2.1/servers") == 401
    assert status(api, token, "/v1/hosts") == 401
    assert api.client.delete(TOKENS, headers=headers).status_code == 401  # cannot revoke twice


def test_admins_revoke_other_users_tokens_members_do_not(api: Api) -> None:
    token = login(api, new_member(api))
    assert status(api, token) == 200
    subject = {"X-Subject-Token": token}
    assert api.delete("other", TOKENS, headers=subject).status_code == 403
    assert status(api, token) == 200
    assert api.delete("admin", TOKENS, headers=subject).status_code == 204
    assert status(api, token) == 401


def test_disabling_a_user_or_changing_the_password_revokes_its_tokens(api: Api) -> None:
    account = new_member(api)
    user = f"/identity/v3/users/{account.user_id}"
    token = login(api, account)
    assert status(api, token) == 200
    assert api.call("admin", "PATCH", user, json={"user": {"enabled": False}}).status_code == 200
    assert status(api, token) == 401
    assert api.call("admin", "PATCH", user, json={"user": {"enabled": True}}).status_code == 200
    assert status(api, token) == 401  # enabling again brings no token back
    token = login(api, account)
    assert status(api, token) == 200
    body = {"user": {"password": account.password}}  # the same one: still a password change
    assert api.call("admin", "PATCH", user, json=body).status_code == 200
    assert status(api, token) == 401
    assert status(api, login(api, account)) == 200
