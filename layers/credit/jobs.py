"""Daily rescoring: events age (the decay), so every subject's score is recomputed once a day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from geo.bounds import BEIJING
from geo.modules import job
from layers.credit import score


@job(cron="30 17 * * *", title="每日重算信用分")  # 01:30 in Beijing
def rescore_daily(conn: Connection, now: datetime) -> dict:
    """每日重算信用分"""
    return {"changed": score.rescore(conn, on=now.astimezone(BEIJING).date())}
