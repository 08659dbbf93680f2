"""geo/signing.py: Ed25519 tokens for anti-counterfeit marks (no database needed)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from geo import signing
from geo.signing import BadSignature

PAYLOAD = {
    "form": "BZH-2024-0001",
    "kind": "标准化工地评价申请",
    "n": 3,
    "digest": signing.digest({"项目名称": "文三路综合管廊", "施工单位": "某某建设集团"}),
}


@pytest.fixture(autouse=True)
def key(env) -> str:
    text = signing.new_key_text()
    env(CHENGJIAN_SIGNING_KEY=text)
    return text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip_and_token_format():
    token = signing.sign(PAYLOAD)
    assert signing.verify(token) == PAYLOAD
    body, sig = token.split(".")
    assert "=" not in token and len(_unb64(sig)) == 64
    canonical = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert _unb64(body) == canonical and "标准化".encode() in canonical
    assert signing.sign(PAYLOAD) == token  # Ed25519 is deterministic
    assert signing.sign(dict(reversed(list(PAYLOAD.items())))) == token  # key order does not matter


def test_tampered_payload_is_refused():
    token = signing.sign(PAYLOAD)
    body, sig = token.split(".")
    changed = _b64(_unb64(body).replace(b"0001", b"0002"))
    with pytest.raises(BadSignature):
        signing.verify(changed + "." + sig)
    other = signing.sign({**PAYLOAD, "n": 4})
    with pytest.raises(BadSignature):  # a valid signature of another payload
        signing.verify(other.split(".")[0] + "." + sig)


def test_changed_signature_is_refused():
    body, sig = signing.sign(PAYLOAD).split(".")
    raw = bytearray(_unb64(sig))
    raw[10] ^= 1
    with pytest.raises(BadSignature):
        signing.verify(body + "." + _b64(bytes(raw)))


def test_forged_with_another_key_is_refused(env):
    forger = Ed25519PrivateKey.generate()
    body = signing.canonical_json(PAYLOAD)
    forged = _b64(body) + "." + _b64(forger.sign(body))
    with pytest.raises(BadSignature):
        signing.verify(forged)
    token = signing.sign(PAYLOAD)
    env(CHENGJIAN_SIGNING_KEY=signing.new_key_text())  # key replaced
    with pytest.raises(BadSignature):
        signing.verify(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "a.b.c",
        "!!!.???",
        "eyJhIjoxfQ.",
        ".c2ln",
        "eyJhIjoxfQ.c2ln",
        "eyJhIjoxfQ==.c2ln",
        "eyJh IjoxfQ.c2ln",
        "eyJhIjoxfQ.c2ln\n",
        None,
        42,
        b"a.b",
    ],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(BadSignature):
        signing.verify(token)


def test_non_canonical_base64_is_refused():
    token = signing.sign(PAYLOAD)
    body, sig = token.split(".")
    # 64 bytes encode to 86 characters whose last one carries 2 unused bits: another letter with the
    # same meaningful bits decodes to the same signature, but is not the token we issued.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    i = alphabet.index(sig[-1])
    twin = sig[:-1] + alphabet[i ^ 1]
    assert _unb64(twin) == _unb64(sig)
    with pytest.raises(BadSignature):
        signing.verify(body + "." + twin)


def test_payload_must_be_json_object():
    with pytest.raises(TypeError):
        signing.sign(["not", "a", "dict"])
    with pytest.raises(TypeError):
        signing.sign({"when": object()})
    with pytest.raises(ValueError):
        signing.sign({"x": float("nan")})


def test_digest_binds_form_data():
    fields = {"项目名称": "文三路综合管廊", "面积": 1200.5, "单位": ["甲", "乙"]}
    d = signing.digest(fields)
    assert (
        d
        == hashlib.sha256(
            json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
    )
    assert signing.digest(dict(reversed(list(fields.items())))) == d
    assert signing.digest({**fields, "面积": 1200.6}) != d
    token = signing.sign({"form": 7, "digest": d})
    assert signing.verify(token)["digest"] == signing.digest(fields)
    assert signing.verify(token)["digest"] != signing.digest({**fields, "单位": ["甲"]})


def test_key_file_created_once_with_mode_0600(env, tmp_path):
    env(CHENGJIAN_SIGNING_KEY=None, CHENGJIAN_DATA_DIR=str(tmp_path))
    path = tmp_path / "keys" / "signing-ed25519.key"
    assert signing.key_path() == path and not path.exists()
    token = signing.sign(PAYLOAD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert len(base64.b64decode(text.strip())) == 32
    assert signing.verify(token) == PAYLOAD and signing.sign(PAYLOAD) == token
    assert path.read_text() == text and [p.name for p in path.parent.iterdir()] == [path.name]
    # the same text works as CHENGJIAN_SIGNING_KEY
    env(CHENGJIAN_SIGNING_KEY=text.strip())
    assert signing.sign(PAYLOAD) == token


def test_key_from_environment(env, key):
    token = signing.sign(PAYLOAD)
    urlsafe = key.replace("+", "-").replace("/", "_").rstrip("=")
    env(CHENGJIAN_SIGNING_KEY=urlsafe)
    assert signing.verify(token) == PAYLOAD
    env(CHENGJIAN_SIGNING_KEY=base64.b64encode(b"short").decode())
    with pytest.raises(RuntimeError, match="32 bytes"):
        signing.sign(PAYLOAD)
    env(CHENGJIAN_SIGNING_KEY="not base64 at all!")
    with pytest.raises(RuntimeError, match="base64"):
        signing.sign(PAYLOAD)


def test_public_key_and_fingerprint():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    token = signing.sign(PAYLOAD)
    body, sig = token.split(".")
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signing.public_key_text()))
    public.verify(_unb64(sig), _unb64(body))  # checkable offline with the published key
    fp = signing.fingerprint(token)
    assert len(fp) == 14 and fp.count("-") == 2 and fp == fp.upper()
    assert fp == signing.fingerprint(token) != signing.fingerprint(signing.sign({**PAYLOAD, "n": 4}))
