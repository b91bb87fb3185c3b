"""API keys: scopes, hashing, revocation, persistence. No weights, no web stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceprint.errors import AlreadyExistsError, ConfigError, NotFoundError
from faceprint.service.keys import KeyStore, Scope


@pytest.mark.parametrize(
    ("text", "collection", "role"),
    [("team:write", "team", "write"), ("*:read", "*", "read"), ("a:b:read", "a:b", "read")],
)
def test_scope_parse(text: str, collection: str, role: str) -> None:
    assert Scope.parse(text) == Scope(collection, role)
    assert str(Scope.parse(text)) == text


@pytest.mark.parametrize("text", ["team", "team:admin", ":read", "  :write", "team:"])
def test_scope_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(ConfigError, match="COLLECTION:ROLE"):
        Scope.parse(text)


def test_roles_and_wildcards() -> None:
    write = Scope("team", "write")
    assert write.grants("team", "read") and write.grants("team", "write")
    assert not write.grants("other", "read")
    read_all = Scope("*", "read")
    assert read_all.grants("anything", "read") and not read_all.grants("anything", "write")


def test_create_authenticate_revoke(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys.db")
    key, token = store.create("ci", ["team:write", "*:read"], rate_limit="10/second")
    assert token.startswith(f"fp_{key.key_id}_")
    found = store.authenticate(token)
    assert found == key
    assert found.can("team", "write") and found.can("x", "read") and not found.can("x", "write")
    assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.authenticate("fp_" + key.key_id + "_short") is None
    assert store.authenticate("") is None and store.authenticate("Bearer " + token) is None
    assert store.revoke("ci").key_id == key.key_id
    assert store.authenticate(token) is None
    assert store.list() == [] and len(store.list(include_revoked=True)) == 1
    with pytest.raises(NotFoundError):
        store.revoke(key.key_id)
    store.close()


def test_only_a_hash_of_the_secret_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    store = KeyStore.open(path)
    _, token = store.create("a", ["*:read"])
    store.close()
    secret = token.split("_", 2)[2]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in raw
    again = KeyStore.open(path, create=False)  # persisted across opens
    assert again.authenticate(token) is not None
    again.close()


def test_names_are_unique_among_active_keys(tmp_path: Path) -> None:
    store = KeyStore.open(tmp_path / "keys.db")
    store.create("a", ["*:read"])
    with pytest.raises(AlreadyExistsError):
        store.create("a", ["*:read"])
    store.revoke("a")
    store.create("a", ["*:read"])  # the name is free again after revocation
    store.close()


@pytest.mark.parametrize(
    ("name", "scopes", "rate"),
    [("", ["*:read"], None), ("a", [], None), ("a", ["*:read"], "fast"), ("a", ["x"], None)],
)
def test_create_refuses_bad_arguments(
    tmp_path: Path, name: str, scopes: list[str], rate: str | None
) -> None:
    store = KeyStore.open(tmp_path / "keys.db")
    with pytest.raises(ConfigError):
        store.create(name, scopes, rate_limit=rate)
    store.close()


def test_open_refuses_missing_or_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="faceprint keys create"):
        KeyStore.open(tmp_path / "none.db", create=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="not a faceprint keys file"):
        KeyStore.open(junk)
