"""Settings from environment variables: every read of the environment goes through here.

- The platform's own (core, api, tiles, tools): :class:`Settings`, prefix ``CHENGJIAN_`` (``DATABASE_URL`` as
  is), read with :func:`get_settings`.
- A business module's: a :class:`ModuleSettings` subclass declared in the module (``layers/<name>/settings.py``)
  under its own prefix ``CHENGJIAN_<X>_``, read with ``module_settings(TheClass)``. Declaring the class registers
  it (:func:`classes`); the core never names a module.

Each class is read once per process and kept; ``get_settings.cache_clear()`` forgets them all, the modules' too
(tests that change the environment call it). A value that does not fit its field is a :class:`SettingsError`
naming the variable; the app reads every class as it starts (:func:`read_all`), so a bad value stops it there
instead of failing a request later. Empty variables count as unset. README.md's settings table lists every
variable (:func:`variables`; ``tests/test_settings.py`` compares the two).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.bounds import Range

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
Port = Annotated[int, Range(1, 65_535, whole=True)]
Bytes = Annotated[int, Range(1, 2**40, whole=True)]  # a size limit in bytes: one byte to a terabyte

S = TypeVar("S", bound=BaseSettings)
T = TypeVar("T", bound="ModuleSettings")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_", extra="ignore", env_ignore_empty=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CHENGJIAN_DATABASE_URL")
    )
    # The private cluster, used when DATABASE_URL is not set.
    data_dir: Path = ROOT / "var"
    pg_bin: Path | None = None  # directory of initdb/pg_ctl; found automatically
    pg_port: Port | None = None  # picked free on first start, then remembered
    db_name: str = "chengjian"

    # Packages whose subpackages are the business modules (geo/modules.py), comma-separated.
    module_packages: str = "layers"

    host: str = "127.0.0.1"
    port: Port = 8000

    # Largest request body accepted (bytes); uploads above it get 413.
    max_body_bytes: Bytes = 200 * 1024 * 1024
    # Largest GeoJSON geometry accepted on a feature write (vertices).
    max_vertices: Annotated[int, Range(4, 100_000_000, whole=True)] = 200_000
    # Default and largest page size for feature lists.
    page_size: Annotated[int, Range(1, 1_000_000, whole=True)] = 100
    max_page_size: Annotated[int, Range(1, 1_000_000, whole=True)] = 10_000

    # How far outside Hangzhou's bounding box a coordinate may lie (degrees).
    hangzhou_margin_deg: Annotated[float, Range(0, 5)] = 0.1

    # Electronic fences (geo/geofence.py): a point counts as inside when its signed distance to the
    # fence edge is at most  geofence_tolerance_m + min(accuracy_m, geofence_accuracy_cap_m).
    geofence_tolerance_m: Annotated[float, Range(0, 10_000)] = 10.0
    geofence_accuracy_cap_m: Annotated[float, Range(0, 100_000)] = 50.0
    # Most checks (or points) in one batch call; the most fences one layer may hold to be searched whole.
    geofence_max_batch: Annotated[int, Range(1, 100_000_000, whole=True)] = 100_000
    geofence_max_layer_fences: Annotated[int, Range(1, 100_000_000, whole=True)] = 200_000

    # Where the app is reached from outside (the verification link in printed QR codes); unset: the request's host.
    public_base_url: str | None = None

    # Uploaded files (geo/files.py): where they are kept (unset: <data_dir>/files) and the largest accepted per kind.
    files_dir: Path | None = None
    max_photo_bytes: Bytes = 15 * MB
    max_document_bytes: Bytes = 30 * MB  # documents and scans
    # Ed25519 key of the anti-counterfeit marks (geo/signing.py), base64; unset: the key file under <data_dir>/keys.
    signing_key: SecretStr | None = None

    # Tiles (tiles/cache.py): the in-process cache of each app process in MB (0 turns it off), and the largest tile
    # served as it is (bytes; a larger one is served in its smaller form, see the guard in tiles/sql.py).
    tile_cache_mb: Annotated[float, Range(0, 1_000_000)] = 256
    tile_max_bytes: Bytes = 500_000

    # Password of the demo accounts ``chengjian demo`` creates (etl/accounts_cli.py).
    demo_password: str = "Chengjian-2026"

    # Roles of a request that carries no credentials (``make run`` sets ``leader`` for a read-only demo map).
    anonymous_roles: str = "public"

    # Accounts (api/accounts): session lifetimes, lockout, cookies.
    session_hours: Annotated[float, Range(0, 24 * 366)] = (
        12.0  # browser sessions and bearer tokens expire after this long
    )
    session_idle_minutes: Annotated[float, Range(0, 60 * 24 * 366)] = 120.0  # ... or after this long without a request
    lockout_attempts: Annotated[int, Range(1, 1000, whole=True)] = 5  # failed sign-ins in a row that lock an account
    lockout_minutes: Annotated[float, Range(0, 60 * 24 * 366)] = 15.0
    # Secure cookies: "auto" marks them Secure unless the request is plain http to a loopback host (development).
    cookie_secure: str = "auto"
    # One-time codes for experts (ST-25): digits, lifetime of a resent code, resend and attempt limits.
    otp_digits: Annotated[int, Range(4, 10, whole=True)] = 6
    otp_resend_minutes: Annotated[float, Range(0, 60 * 24)] = 10.0
    otp_min_interval_s: Annotated[float, Range(0, 86_400)] = 60.0
    otp_max_per_hour: Annotated[int, Range(1, 10_000, whole=True)] = 5
    otp_max_attempts: Annotated[int, Range(1, 1000, whole=True)] = 5
    # SMS gateway: "outbox" (local table, read in the back office) is the only backend this build ships.
    sms_backend: str = "outbox"
    # Single sign-on from the commission's OA (OpenID Connect); off when the issuer is unset.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None  # default: <request base>/api/auth/sso/callback
    oidc_scopes: str = "openid profile email phone"
    oidc_username_claim: str = "preferred_username"  # the claim matched to a local username on first sign-in

    # Task queue (geo/tasks.py): jobs a worker runs at once (``chengjian worker --concurrency`` overrides);
    # finished runs (and their files) and queue jobs are deleted after this many days.
    worker_concurrency: Annotated[int, Range(1, 256, whole=True)] = 2
    task_keep_days: Annotated[int, Range(1, 36_500, whole=True)] = 7


class SettingsError(ValueError):
    """A variable's value does not fit its setting (the message names the variable)."""


_lock = threading.RLock()
_registered: dict[str, type[ModuleSettings]] = {}
_read_modules: dict[type[ModuleSettings], ModuleSettings] = {}
_read_for: Settings | None = None  # the core settings object that _read_modules were read with


def _key(cls: type[BaseSettings]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class ModuleSettings(BaseSettings):
    """Base of a business module's settings: subclass it in the module with ``env_prefix="CHENGJIAN_<X>_"`` (its
    own prefix) and read it with ``module_settings(TheClass)``. Declaring a subclass registers it; a prefix
    outside ``CHENGJIAN_``, or a variable another class already reads, is refused (``TypeError``)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        prefix = cls.model_config.get("env_prefix", "")
        if not (prefix.startswith("CHENGJIAN_") and prefix.endswith("_") and len(prefix) > len("CHENGJIAN__")):
            raise TypeError(
                f"{cls.__qualname__}: a module's settings need their own prefix CHENGJIAN_<X>_, not {prefix!r}"
            )
        key = _key(cls)
        with _lock:
            taken = {name: other for other in classes() if _key(other) != key for name in env_names(other)}
            clash = sorted(name for name in env_names(cls) if name in taken)
            if clash:
                raise TypeError(
                    f"{cls.__qualname__}: {', '.join(clash)} already read by {taken[clash[0]].__qualname__}"
                )
            _registered[key] = cls  # a module imported again replaces its class


def _read(cls: type[S]) -> S:
    try:
        return cls()
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            names = env_names(cls, field) if field in cls.model_fields else [field]
            problems.append(f"{' / '.join(names)}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    """The platform's settings, read once (``get_settings.cache_clear()`` re-reads them, and the modules')."""
    return _read(Settings)


def module_settings(cls: type[T]) -> T:
    """The settings of a module's :class:`ModuleSettings` class, read once (again after
    ``get_settings.cache_clear()``)."""
    global _read_for
    if not issubclass(cls, ModuleSettings):
        raise TypeError(f"{cls.__qualname__} is not a ModuleSettings class")
    core = get_settings()
    with _lock:
        if _read_for is not core:
            _read_modules.clear()
            _read_for = core
        found = _read_modules.get(cls)
        if found is None:
            found = _read_modules[cls] = _read(cls)
    assert isinstance(found, cls)
    return found


def classes() -> list[type[BaseSettings]]:
    """Every settings class: the platform's, then the modules' declared so far (``geo.modules.discover()``
    imports them all)."""
    with _lock:
        return [Settings, *_registered.values()]


def read_all() -> None:
    """Read every settings class now: a bad value raises :class:`SettingsError` (the app calls this as it starts)."""
    for cls in classes():
        if issubclass(cls, ModuleSettings):
            module_settings(cls)
        else:
            get_settings()


def env_names(cls: type[BaseSettings], field: str | None = None) -> list[str]:
    """The variables ``cls`` reads (upper case), or those of one of its fields."""
    prefix = cls.model_config.get("env_prefix", "")
    out: list[str] = []
    for name, info in cls.model_fields.items():
        if field is not None and name != field:
            continue
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            out += [str(a).upper() for a in alias.choices if isinstance(a, str)]
        elif isinstance(alias, str):
            out.append(alias.upper())
        else:
            out.append((prefix + name).upper())
    return out


def variables() -> dict[str, type[BaseSettings]]:
    """Every variable read, with the class that reads it."""
    return {name: cls for cls in classes() for name in env_names(cls)}
