"""Ed25519-signed tokens for anti-counterfeit marks (e.g. the QR code on a printed application form).

Token
    ``base64url(payload) + "." + base64url(signature)``, both without padding, where ``payload`` is the
    canonical JSON of a dict (keys sorted, separators ``,`` and ``:``, non-ASCII kept, UTF-8) and the
    signature is Ed25519 over exactly those bytes. Anyone holding the token can read the payload: put no
    secrets in it. :func:`verify` accepts a token only if it is well formed, its base64 is in canonical
    form and the signature is the current key's over the payload; otherwise :class:`BadSignature`.

Binding a form
    :func:`digest` is the SHA-256 of a dict's canonical JSON. Sign ``{"id": ..., "digest": digest(key
    fields)}``; at verification, recompute the digest from the form's current data: a different value
    means the form was changed after it was printed.

Key
    ``CHENGJIAN_SIGNING_KEY`` (base64 of the raw 32-byte private key) if set, else the key file
    ``<data_dir>/keys/signing-ed25519.key`` (same base64 text), created on first use with mode 0600 (its
    folder 0700). The key file is read at every call, so a replaced file takes effect at once; all processes
    of a deployment must share the key. Tokens signed with a replaced key no longer verify.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from geo.settings import get_settings

KEY_FILE = "signing-ed25519.key"
_PART = re.compile(r"^[A-Za-z0-9_-]+$")


class BadSignature(ValueError):
    """A token that is malformed, not signed by our key, or whose payload was changed."""


# ---------------------------------------------------------------- encoding


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON of ``value`` (sorted keys, no spaces, non-ASCII kept; NaN refused)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def digest(fields: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of ``fields``."""
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    """Strict base64url without padding: only the alphabet, and only the canonical spelling (so no two
    tokens decode to the same bytes)."""
    if not _PART.match(text):
        raise BadSignature("token contains characters outside base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise BadSignature("token is not valid base64url") from e
    if b64url(data) != text:
        raise BadSignature("token is not canonical base64url")
    return data


# ---------------------------------------------------------------- key


def key_path() -> Path:
    return get_settings().data_dir / "keys" / KEY_FILE


def _parse_key(text: str, where: str) -> Ed25519PrivateKey:
    text = text.strip().rstrip("=").replace("-", "+").replace("_", "/")  # standard or url-safe alphabet
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise RuntimeError(f"{where}: not base64") from e
    if len(raw) != 32:
        raise RuntimeError(f"{where}: an Ed25519 private key is 32 bytes, found {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def new_key_text() -> str:
    """A fresh private key as base64 text (the format of ``CHENGJIAN_SIGNING_KEY`` and the key file)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode("ascii")


def private_key() -> Ed25519PrivateKey:
    """The signing key (see the module docstring); creates the key file if there is no key yet."""
    env = get_settings().signing_key
    if env is not None:
        return _parse_key(env.get_secret_value(), "CHENGJIAN_SIGNING_KEY")
    path = key_path()
    if not path.exists():
        _create_key_file(path)
    return _parse_key(path.read_text("ascii"), str(path))


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless one appears meanwhile: the complete file is hard-linked into
    place, which fails if the name exists, so concurrent first uses all end up with one key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(new_key_text() + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def public_key_text() -> str:
    """Base64 of the raw 32-byte public key, for anyone who wants to check tokens offline."""
    raw = public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------- tokens


def sign(payload: dict) -> str:
    """A token carrying ``payload`` (a dict of JSON values; TypeError/ValueError otherwise)."""
    if not isinstance(payload, dict):
        raise TypeError("payload must be a dict")
    body = canonical_json(payload)
    return b64url(body) + "." + b64url(private_key().sign(body))


def verify(token: str) -> dict:
    """The payload of a token signed with the current key; :class:`BadSignature` for anything else."""
    if not isinstance(token, str) or token.count(".") != 1:
        raise BadSignature("a token is two base64url parts joined by '.'")
    body_text, sig_text = token.split(".")
    body, sig = _unb64url(body_text), _unb64url(sig_text)
    if len(sig) != 64:
        raise BadSignature("an Ed25519 signature is 64 bytes")
    try:
        public_key().verify(sig, body)
    except InvalidSignature as e:
        raise BadSignature("signature does not match") from e
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # only possible if we signed garbage
        raise BadSignature("payload is not JSON") from e
    if not isinstance(payload, dict):
        raise BadSignature("payload is not an object")
    return payload


def fingerprint(token: str) -> str:
    """A short, readable mark of a token (``"3F9A-07C2-5B1E"``: the first 48 bits of its SHA-256), to
    print beside the QR code and show on the verification page, so the two can be compared by eye."""
    h = hashlib.sha256(token.encode("utf-8")).hexdigest()[:12].upper()
    return "-".join(h[i : i + 4] for i in range(0, 12, 4))
