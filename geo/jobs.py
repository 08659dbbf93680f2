"""Running the modules' scheduled jobs (declared with ``geo.modules.job``): each in its own system-scope transaction,
so one failing job neither undoes nor stops the others. ``chengjian jobs run [--now ISO]`` and the task queue's
workers call these."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from geo import modules
from geo.db import transaction

log = logging.getLogger(__name__)


def run(job: modules.Job, now: datetime | None = None) -> dict:
    """Run one job as the system, as of ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        return job.run(conn, now)


def run_all(now: datetime | None = None, module: str | None = None) -> dict:
    """Run every job (of one ``module``, or all) once; a failure is logged and reported, the others still run."""
    now = now or datetime.now(UTC)
    out: dict = {"now": now.isoformat()}
    for job in modules.jobs():
        if module and job.module != module:
            continue
        try:
            out[job.id] = run(job, now)
        except Exception as e:  # one job's failure must not stop the next one
            log.exception("job %s failed", job.id)
            out[job.id] = {"error": type(e).__name__, "message": str(e)[:500]}
    return out
