"""SMS: the one part behind an interface, because the operator's gateway cannot be reached from here.

``gateway()`` returns the configured backend. The ``outbox`` backend writes each message to ``sms_outbox`` (in
the caller's transaction, so a rolled-back action sends nothing); administrators read it in the back office and
tests read it directly. A real gateway would implement ``send`` and record the same row with its status.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from geo.settings import get_settings


class Gateway(Protocol):
    name: str

    def send(self, conn: Connection, phone: str, body: str, purpose: str, user_id: int | None = None) -> int:
        """Queue or send one message; returns the outbox id."""


class OutboxGateway:
    name = "outbox"

    def send(self, conn: Connection, phone: str, body: str, purpose: str, user_id: int | None = None) -> int:
        return conn.execute(
            sa.text(
                "INSERT INTO sms_outbox (phone, body, purpose, user_id, backend, status) "
                "VALUES (:p, :b, :purpose, :u, 'outbox', 'queued') RETURNING id"
            ),
            {"p": phone, "b": body, "purpose": purpose, "u": user_id},
        ).scalar_one()


BACKENDS: dict[str, type] = {"outbox": OutboxGateway}


def gateway() -> Gateway:
    name = get_settings().sms_backend
    if name not in BACKENDS:
        raise RuntimeError(f"unknown SMS backend {name!r}; known: {sorted(BACKENDS)}")
    return BACKENDS[name]()
