"""Background work: one PostgreSQL-backed task queue (procrastinate) for the whole platform.

The queue lives in the project's database (migration 0010 installs procrastinate's schema). ``app()`` builds the
procrastinate ``App`` once, lazily, on the project's database (its connections act as the app role, like the web
app's) with:

- every task declared with ``@task(...)`` here, in a module (``layers/<module>/…``) or in the web layer
  (``api/tasks.py``): ``task`` is procrastinate's ``task`` decorator on a blueprint this app adopts, so a module can
  declare tasks before the app exists;
- every ``@job(cron=…)`` of the modules (``geo.modules.jobs()``) as a periodic task ``job:<module>.<name>`` on its
  cron (read in UTC), in the queue ``jobs``, running ``geo.jobs.run(job, now)`` with ``now`` = the scheduled time.
  Each worker runs procrastinate's periodic deferrer; the database lets one defer per task and period through
  (``procrastinate_periodic_defers`` is unique on task, id and timestamp), so with several workers on several
  machines each period's run happens once. A job's runs never overlap (``lock`` = its id) and a failed run is
  retried ``job.retry`` times;
- a daily clean-up of finished runs and queue jobs older than ``CHENGJIAN_TASK_KEEP_DAYS``.

``chengjian worker`` runs a worker (``run_worker``). A web request defers work with ``submit``: it records a
``task_runs`` row for the user (queued) and defers the task with the run's id; the task body, wrapped by
``tracked``, marks the run running, reports progress (``Run.progress``), and ends it done (result, maybe a file)
or failed (the error message in Chinese). The web layer shows the runs to their owners (``api/tasks.py``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from procrastinate import App, Blueprint, PsycopgConnector, RetryStrategy
from procrastinate.tasks import Task
from sqlalchemy.engine import make_url

from geo import jobs as jobs_mod
from geo import modules
from geo.db import APP_ROLE, database_url, transaction
from geo.errors import DomainError
from geo.settings import get_settings

log = logging.getLogger(__name__)

JOBS_QUEUE = "jobs"  # the modules' scheduled jobs
DEFAULT_QUEUE = "default"  # users' long jobs (exports, imports) and the rest
CLEANUP_CRON = "17 19 * * *"  # 03:17 Beijing time
RETRY_WAIT_S = 5  # a failed scheduled job is tried again after this long

_blueprint = Blueprint()
_app: App | None = None
_sync_open = False
_lock = threading.RLock()


def conninfo(url: str | None = None) -> str:
    """A libpq connection string for the project's database (ours may read ``postgresql+psycopg://``)."""
    return make_url(url or database_url()).set(drivername="postgresql").render_as_string(hide_password=False)


def _adopt(app: App, t: Task) -> None:
    t.blueprint = app
    app.tasks[t.name] = t


def task(**options: Any) -> Callable[[Callable], Task]:
    """Declare a task on the project's queue (procrastinate's ``task`` options: name, queue, retry, lock …)."""

    def wrap(fn: Callable) -> Task:
        t = _blueprint.task(**options)(fn)
        with _lock:
            if _app is not None:
                _adopt(_app, t)
        return t

    return wrap


def job_task_name(job: modules.Job) -> str:
    return f"job:{job.id}"


def register_job(app: App, job: modules.Job) -> Task:
    """Make ``job`` a periodic task of ``app`` on its cron."""

    def run_job(timestamp: int) -> dict:
        now = datetime.fromtimestamp(timestamp, UTC)
        out = jobs_mod.run(job, now)
        log.info("job %s as of %s: %s", job.id, now.isoformat(), out)
        return out

    retry = RetryStrategy(max_attempts=job.retry, wait=RETRY_WAIT_S) if job.retry else False
    t: Task[Any, Any, Any] = Task(
        run_job, blueprint=app, name=job_task_name(job), queue=JOBS_QUEUE, lock=job_task_name(job), retry=retry
    )
    _adopt(app, t)
    app.periodic_registry.register_task(task=t, cron=job.cron, periodic_id=job.id, configure_kwargs={})
    return t


def cleanup(timestamp: int) -> dict:
    """Drop finished runs (and their files) and finished queue jobs older than the setting's days."""
    days = get_settings().task_keep_days
    with transaction() as conn:
        runs = conn.execute(
            sa.text("DELETE FROM task_runs WHERE finished_at < now() - make_interval(days => :d)"), {"d": days}
        ).rowcount
        queued = conn.execute(
            sa.text(
                "DELETE FROM procrastinate_jobs j WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted') "
                "AND NOT EXISTS (SELECT 1 FROM procrastinate_events e WHERE e.job_id = j.id "
                "                AND e.at > now() - make_interval(days => :d))"
            ),
            {"d": days},
        ).rowcount
    return {"task_runs": runs, "queue_jobs": queued}


def app() -> App:
    """The procrastinate App (built on first use; every module is discovered first, so its tasks and jobs are in)."""
    global _app
    with _lock:
        if _app is None:
            modules.discover()
            connector = PsycopgConnector(
                conninfo=conninfo(),
                min_size=1,
                max_size=max(4, get_settings().worker_concurrency + 3),
                kwargs={"options": f"-c role={APP_ROLE}"},  # the queue is used as the app role, like the app's tables
            )
            a = App(connector=connector)
            for t in list(_blueprint.tasks.values()):
                _adopt(a, t)
            for job in modules.jobs():
                register_job(a, job)
            clean: Task[Any, Any, Any] = Task(
                cleanup, blueprint=a, name="core:cleanup", queue=JOBS_QUEUE, lock="core:cleanup"
            )
            _adopt(a, clean)
            a.periodic_registry.register_task(task=clean, cron=CLEANUP_CRON, periodic_id="cleanup", configure_kwargs={})
            _app = a
        return _app


def reset() -> None:
    """Forget the App (tests switch databases); declared tasks stay declared."""
    global _app, _sync_open
    with _lock:
        if _app is not None and _sync_open:
            _app.close()
        _app, _sync_open = None, False


def _opened() -> App:
    """The App, opened for synchronous use (a web request deferring a job), unless a worker opened it already."""
    global _sync_open
    a = app()
    with _lock:
        if not _sync_open and getattr(a.connector, "_async_pool", None) is None:
            a.open()
            _sync_open = True
    return a


def defer(name: str, queue: str | None = None, **kwargs: Any) -> int:
    """Defer the task called ``name`` (known to the workers, not necessarily to this process); returns the job id."""
    configured = _opened().configure_task(name, queue=queue) if queue else _opened().configure_task(name)
    return configured.defer(**kwargs)


async def run_worker(
    queues: Iterable[str] | None = None, concurrency: int | None = None, name: str | None = None, **options: Any
) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM): the periodic deferrer, and the jobs of ``queues``
    (all when None), ``concurrency`` at a time (tasks are synchronous: each runs in a thread)."""
    a = app()
    async with a.open_async():
        if queues:
            options["queues"] = list(queues)
        if name:
            options["name"] = name
        await a.run_worker_async(concurrency=concurrency or get_settings().worker_concurrency, **options)


# -- runs a user follows ----------------------------------------------------------------------------------------

RUN_COLUMNS = (
    "id, owner_id, owner, kind, title, status, done, total, params, result, error, file_name, media_type, job_id, "
    "created_at, started_at, finished_at, file IS NOT NULL AS has_file"
)


@dataclass(frozen=True)
class Outcome:
    """What a tracked task ends with: a JSON result, and maybe a file the owner downloads."""

    result: dict
    file: bytes | None = None
    file_name: str | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class Run:
    """One ``task_runs`` row as the task body sees it."""

    id: int
    owner_id: int | None
    owner: str
    kind: str
    params: dict

    def progress(self, done: int, total: int | None = None) -> None:
        """Record progress (committed at once, so the owner sees it while the task goes on)."""
        with transaction() as conn:
            conn.execute(
                sa.text("UPDATE task_runs SET done = :d, total = coalesce(:t, total) WHERE id = :id"),
                {"d": done, "t": total, "id": self.id},
            )

    def input(self) -> bytes | None:
        with transaction() as conn:
            return conn.execute(sa.text("SELECT input FROM task_runs WHERE id = :id"), {"id": self.id}).scalar()


class Failed(Exception):
    """A task body's own failure, for its owner: ``message`` (Chinese) and a result to show (a check report)."""

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.message, self.result = message, result


def submit(
    t: Task,
    owner_id: int | None,
    owner: str,
    kind: str,
    title: str,
    params: dict,
    input: bytes | None = None,
    **defer_options: Any,
) -> int:
    """Record a run for ``owner`` (queued) and defer ``t`` with its id; returns the run's id."""
    with transaction() as conn:
        run_id = conn.execute(
            sa.text(
                "INSERT INTO task_runs (owner_id, owner, kind, title, params, input) "
                "VALUES (:o, :u, :k, :t, CAST(:p AS jsonb), :i) RETURNING id"
            ),
            {"o": owner_id, "u": owner, "k": kind, "t": title, "p": json.dumps(params, default=str), "i": input},
        ).scalar_one()
    try:
        _opened()
        job_id = (t.configure(**defer_options) if defer_options else t).defer(run_id=run_id)
    except Exception as e:
        finish_failed(run_id, "任务未能进入队列，请稍后重试。")
        raise RuntimeError(f"could not defer {t.name}") from e
    with transaction() as conn:
        conn.execute(sa.text("UPDATE task_runs SET job_id = :j WHERE id = :id"), {"j": job_id, "id": run_id})
    return run_id


def finish_failed(run_id: int, message: str, result: dict | None = None) -> None:
    with transaction() as conn:
        conn.execute(
            sa.text(
                "UPDATE task_runs SET status = 'failed', error = :e, result = CAST(:r AS jsonb), finished_at = now() "
                "WHERE id = :id"
            ),
            {"e": message[:2000], "r": json.dumps(result, default=str, ensure_ascii=False), "id": run_id},
        )


def error_message(e: BaseException) -> str:
    """The message the owner reads: a domain error's own (Chinese), anything else as a generic failure."""
    if isinstance(e, DomainError):
        return e.message
    message = getattr(e, "message", None)
    if isinstance(message, str) and message:
        return message
    return f"任务执行失败（{type(e).__name__}），请联系管理员。"


def tracked(body: Callable[[Run], Outcome]) -> Callable[[int], None]:
    """Wrap a task body that works on one run: mark it running, then done with the outcome, or failed (re-raised,
    so the queue records the failure and retries when the task says so). A run already finished is left alone."""

    def run_task(run_id: int) -> None:
        with transaction() as conn:
            row = (
                conn.execute(
                    sa.text(
                        "UPDATE task_runs SET status = 'running', started_at = coalesce(started_at, now()), "
                        "error = NULL WHERE id = :id AND status IN ('queued', 'running', 'failed') "
                        "RETURNING id, owner_id, owner, kind, params"
                    ),
                    {"id": run_id},
                )
                .mappings()
                .first()
            )
        if row is None:
            log.warning("task run %s is missing or finished; nothing to do", run_id)
            return
        run = Run(row["id"], row["owner_id"], row["owner"], row["kind"], row["params"])
        try:
            out = body(run)
        except Exception as e:
            log.exception("task run %s (%s) failed", run_id, run.kind)
            finish_failed(run_id, error_message(e), e.result if isinstance(e, Failed) else None)
            raise
        with transaction() as conn:
            conn.execute(
                sa.text(
                    "UPDATE task_runs SET status = 'done', result = CAST(:r AS jsonb), file = :f, file_name = :n, "
                    "media_type = :m, total = coalesce(total, done), done = coalesce(total, done), input = NULL, "
                    "finished_at = now() WHERE id = :id"
                ),
                {
                    "r": json.dumps(out.result, default=str, ensure_ascii=False),
                    "f": out.file,
                    "n": out.file_name,
                    "m": out.media_type,
                    "id": run_id,
                },
            )

    run_task.__name__ = body.__name__
    run_task.__qualname__ = body.__qualname__
    run_task.__module__ = body.__module__
    run_task.__doc__ = body.__doc__
    return run_task
