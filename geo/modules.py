"""Business modules are discovered, never listed.

A module is a package directly under one of the module packages (setting ``CHENGJIAN_MODULE_PACKAGES``, default
``layers``): ``layers/sites/``, ``layers/standard_sites/`` … Discovery imports every module package and every
submodule in it, once; importing is what declares things:

- layers, with ``geo.layer.registry.register(Layer(...))``;
- routers: a submodule's ``router`` attribute (a FastAPI ``APIRouter``) is mounted by the app;
- start-up work: a submodule's ``on_app(app)`` is called by the app factory;
- demo data: ``@seeder(order=…)`` functions, run by ``chengjian demo`` in their declared order;
- scheduled and background work: ``@job(cron=…)`` functions, run by the task queue's workers;
- the Chinese names of its records and audit actions in the operation log, of the purposes of the text messages it
  sends and of the non-person actors it writes as: ``log_labels(objects=…, actions=…, purposes=…, actors=…)``;
- named permissions beyond a layer's view/edit/import/export: ``permissions({"site.deduct": "登记扣分", …})``,
  with their Chinese titles for the back office (the roles that hold them are data, seeded by the migrations);
- settings: pydantic-settings classes, read from the environment like the core's;
- migrations: a ``migrations/`` folder (no ``__init__.py``) of Alembic revisions, one branch per module;
- command-line commands: ``@command("name", help=…)`` on a function that fills the command's ``argparse`` parser
  (``chengjian name …``; it sets ``func`` with ``set_defaults``);
- long-running services (a TCP listener, the demo's simulator): ``@service("name")`` on an ``async`` function that
  runs until cancelled; ``chengjian worker --services`` (``make run``) runs them beside the task queue.

The core never names a module: everything above is collected here and read by whoever serves it. A package
``layers`` elsewhere on ``sys.path`` contributes modules too (``layers/__init__.py`` extends its ``__path__``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from geo.settings import get_settings


@dataclass(frozen=True)
class Seeder:
    """Demo data of one module: ``run(conn, world) -> {layer or table: rows}``; lower ``order`` runs first."""

    module: str
    name: str
    order: int
    run: Callable[..., dict]


@dataclass(frozen=True)
class Job:
    """Scheduled work of one module: ``run(conn, now) -> dict`` in a system-scope transaction, on ``cron`` (UTC);
    a failed run is tried again up to ``retry`` times (geo/tasks.py)."""

    module: str
    name: str
    cron: str
    run: Callable[..., dict]
    title: str = ""
    retry: int = 0

    @property
    def id(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Command:
    """A ``chengjian`` subcommand of one module: ``configure(parser)`` adds its arguments and ``func``."""

    module: str
    name: str
    help: str
    configure: Callable[[Any], None]


@dataclass(frozen=True)
class Service:
    """Long-running work of one module: ``run()`` is a coroutine function that runs until cancelled."""

    module: str
    name: str
    run: Callable[[], Any]


@dataclass(frozen=True)
class Page:
    """A page of a module that the map's and the consoles' menus offer to whoever may open it."""

    path: str
    title: str  # Chinese menu text
    group: str  # Chinese menu group (标化工地, 数据中心, 专题图)
    permission: str | None = None  # None: everyone signed in or not
    order: int = 100


_permissions: dict[str, tuple[str, str]] = {}
_log_objects: dict[str, str] = {}  # table -> Chinese name of its records, for the operation log
_log_actions: dict[str, str] = {}  # audit action -> Chinese verb
_log_purposes: dict[str, str] = {}  # SMS purpose -> what the message is for (the back office's SMS outbox)
_log_actors: dict[
    str, str
] = {}  # a non-person actor (``registration``) -> how the logs and case histories name it  # name -> (Chinese title, group title)
_seeders: list[Seeder] = []
_commands: list[Command] = []
_services: list[Service] = []
_jobs: list[Job] = []
_pages: dict[str, Page] = {}
_lock = threading.RLock()
_packages: list[ModuleType] | None = None


def _owner(fn: Callable) -> str:
    """The module (package) a function is declared in: ``standard_sites`` for ``layers.standard_sites.jobs``."""
    parts = fn.__module__.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def seeder(order: int = 100) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Declare a function as its module's demo seeder (``chengjian demo`` runs every seeder by ``order``)."""

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        _seeders.append(Seeder(_owner(fn), fn.__name__, order, fn))
        return fn

    return wrap


def job(cron: str, title: str = "", retry: int = 0) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Declare a function as scheduled work of its module (``cron``: minute hour day month weekday, in UTC), run
    once per period by the task queue's workers; ``retry``: how often a failed run is tried again."""

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        title_ = title or (fn.__doc__ or "").strip().split("\n")[0]
        _jobs.append(Job(_owner(fn), fn.__name__, cron, fn, title_, retry))
        return fn

    return wrap


def command(name: str, help: str = "") -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Declare a ``chengjian <name>`` subcommand; the function receives its ``argparse`` parser to fill."""

    def wrap(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        _commands.append(Command(_owner(fn), name, help or (fn.__doc__ or "").strip().split("\n")[0], fn))
        return fn

    return wrap


def service(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Declare an ``async`` function as a long-running service of its module (run by ``chengjian worker
    --services``; it should return at once when its settings leave it off)."""

    def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
        _services.append(Service(_owner(fn), name, fn))
        return fn

    return wrap


def permissions(titles: dict[str, str] | None = None, group: str = "") -> dict[str, tuple[str, str]]:
    """Declare a module's named permissions (name -> Chinese title, shown under ``group`` in the back office);
    without arguments: every module's, name -> (title, group)."""
    if titles is not None:
        for name, title in titles.items():
            if _permissions.get(name, (title, group)) != (title, group):
                raise ValueError(f"permission {name} declared twice differently")
            _permissions[name] = (title, group)
        return {name: (title, group) for name, title in titles.items()}
    discover()
    return dict(sorted(_permissions.items()))


def log_labels(
    objects: dict[str, str] | None = None,
    actions: dict[str, str] | None = None,
    purposes: dict[str, str] | None = None,
    actors: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Declare the Chinese names a module's records and audit actions have in the operation log (what the layer and
    case declarations do not already name), what its text messages are for (the ``purpose`` it sends them with) and
    how its non-person actors are shown; without arguments: every module's, ``{"objects", "actions", "purposes",
    "actors"}``."""
    given = {"objects": objects, "actions": actions, "purposes": purposes, "actors": actors}
    stores = {"objects": _log_objects, "actions": _log_actions, "purposes": _log_purposes, "actors": _log_actors}
    if all(v is None for v in given.values()):
        discover()
        return {k: dict(v) for k, v in stores.items()}
    for k, v in given.items():
        stores[k].update(v or {})
    return {k: dict(v or {}) for k, v in given.items()}


def pages(*declared: Page) -> list[Page]:
    """Declare a module's pages for the menus; without arguments: every module's, in menu order."""
    if declared:
        for page in declared:
            if _pages.get(page.path, page) != page:
                raise ValueError(f"page {page.path} declared twice differently")
            _pages[page.path] = page
        return list(declared)
    discover()
    return sorted(_pages.values(), key=lambda p: (p.order, p.path))


def package_names() -> list[str]:
    return [p.strip() for p in get_settings().module_packages.split(",") if p.strip()]


def discover() -> list[ModuleType]:
    """Import every module package and its submodules (once); returns the module packages, by name."""
    global _packages
    with _lock:
        if _packages is not None:
            return _packages
        found: list[ModuleType] = []
        for root_name in package_names():
            root = importlib.import_module(root_name)
            for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
                if not info.ispkg:
                    continue
                pkg = importlib.import_module(f"{root_name}.{info.name}")
                found.append(pkg)
                for sub in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
                    importlib.import_module(sub.name)
        _packages = found
        return found


def packages() -> list[ModuleType]:
    return discover()


def names() -> list[str]:
    return [p.__name__.rsplit(".", 1)[-1] for p in discover()]


def submodules() -> list[ModuleType]:
    """Every imported module of every module package (the package itself first), in name order."""
    import sys

    prefixes = tuple(f"{p.__name__}." for p in discover())
    roots = {p.__name__ for p in discover()}
    mods = [m for n, m in list(sys.modules.items()) if m is not None and (n in roots or n.startswith(prefixes))]
    return sorted(mods, key=lambda m: m.__name__)


def collect(attribute: str) -> list[Any]:
    """The value of ``attribute`` in every submodule that defines it (its own, not an imported one)."""
    out = []
    for m in submodules():
        value = m.__dict__.get(attribute)
        if value is None:
            continue
        if inspect.isfunction(value) and value.__module__ != m.__name__:
            continue  # imported from a sibling, collected there
        out.append(value)
    return out


def seeders() -> list[Seeder]:
    discover()
    return sorted(_seeders, key=lambda s: (s.order, s.module, s.name))


def jobs() -> list[Job]:
    discover()
    return sorted(_jobs, key=lambda j: j.id)


def commands() -> list[Command]:
    discover()
    return sorted({c.name: c for c in _commands}.values(), key=lambda c: c.name)


def services() -> list[Service]:
    discover()
    return sorted({(s.module, s.name): s for s in _services}.values(), key=lambda s: (s.module, s.name))


def migration_dirs() -> list[Path]:
    """Each module's ``migrations/`` folder (Alembic version locations beside the core's)."""
    out = []
    for pkg in discover():
        for base in pkg.__path__:
            d = Path(base) / "migrations"
            if d.is_dir():
                out.append(d)
    return out
