"""Domain errors of the core: what went wrong, in words a clerk understands (Chinese) and a machine can read.

The core raises these and knows nothing of HTTP; ``api/errors.py`` maps each kind to its status once
(not found 404, conflict 409, invalid 422, forbidden 403, too large 413, precondition required 428). Every error
carries ``code`` (machine-readable), ``message`` (Chinese), ``field`` (the input at fault, or None) and ``detail``.
"""

from __future__ import annotations

from typing import Any

ECHO_CHARS = 50  # an error repeats at most this much of a value it refuses


def excerpt(value: Any, limit: int = ECHO_CHARS) -> str:
    """What an error may echo of a value it was given: a short prefix, ``…`` when cut (never the whole 100 kB)."""
    s = str(value)
    return s if len(s) <= limit else s[:limit] + "…"


class DomainError(Exception):
    """Base of every core error; subclasses say what kind of failure it is."""

    def __init__(self, code: str, message: str, field: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field
        self.detail = detail if detail is not None else {}

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field, "detail": self.detail}


class NotFound(DomainError, LookupError):
    """The record does not exist, was deleted, or lies outside the principal's data scope."""

    def __init__(
        self,
        code: str = "not_found",
        message: str = "记录不存在或已删除。",
        field: str | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(code, message, field, detail)


class Conflict(DomainError):
    """The request clashes with the record's state: a duplicate, an illegal transition, a stale version."""


class StaleVersion(Conflict):
    """The record changed since the client read it (optimistic locking)."""

    def __init__(self, current: int | None, given: int, what: str = "记录") -> None:
        super().__init__(
            "stale_version", f"该{what}已被他人修改，请刷新后再操作。", "version", {"current": current, "given": given}
        )
        self.current, self.given = current, given


class Invalid(DomainError, ValueError):
    """The input is refused as it is (never repaired or coerced): ``field`` names the input at fault."""


class Forbidden(DomainError):
    """The principal may not do this (a missing permission, or a record outside its data scope)."""


class TooLarge(DomainError):
    """The input is larger than the configured limit."""


class PreconditionRequired(DomainError):
    """The write needs the version the client read (``If-Match``) and none was given."""
