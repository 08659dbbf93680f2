"""Password hashes (argon2id, argon2-cffi) and the password policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY = _hasher.hash("chengjian-dummy-password")

MIN_LENGTH = 10


# Inside ``hash_once``: the hash already made for each password.
_made: ContextVar[dict[str, str] | None] = ContextVar("hash_once", default=None)


@contextmanager
def hash_once() -> Iterator[None]:
    """Within this block each distinct password is hashed once and that hash is reused for every account given the
    same password. For loading demo data only, whose many accounts share the one published demo password: an
    argon2id hash costs about 0.2 s by design, and the demo makes dozens of accounts. The hash is an ordinary one
    (same parameters, its own random salt); only its reuse shows that those accounts have the same password, which
    for the demo's accounts is no secret. Never wrap real accounts in it."""
    token = _made.set({})
    try:
        yield
    finally:
        _made.reset(token)


def hash_password(password: str) -> str:
    made = _made.get()
    if made is None:
        return _hasher.hash(password)
    if password not in made:
        made[password] = _hasher.hash(password)
    return made[password]


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def policy_problem(password: str, username: str | None = None) -> str | None:
    """A Chinese reason the password is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 位。"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        return "密码须同时包含字母和数字。"
    if username and username.lower() in password.lower():
        return "密码不能包含用户名。"
    return None
