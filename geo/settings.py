"""Settings from environment variables (prefix ``CHENGJIAN_``; ``DATABASE_URL`` as is)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHENGJIAN_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CHENGJIAN_DATABASE_URL")
    )
    # The private cluster, used when DATABASE_URL is not set.
    data_dir: Path = ROOT / "var"
    pg_bin: Path | None = None  # directory of initdb/pg_ctl; found automatically
    pg_port: int | None = None  # picked free on first start, then remembered
    db_name: str = "chengjian"

    # Packages whose subpackages are the business modules (geo/modules.py), comma-separated.
    module_packages: str = "layers"

    host: str = "127.0.0.1"
    port: int = 8000

    # Largest request body accepted (bytes); uploads above it get 413.
    max_body_bytes: int = 200 * 1024 * 1024
    # Largest GeoJSON geometry accepted on a feature write (vertices).
    max_vertices: int = 200_000
    # Default and largest page size for feature lists.
    page_size: int = 100
    max_page_size: int = 10_000

    # How far outside Hangzhou's bounding box a coordinate may lie (degrees).
    hangzhou_margin_deg: float = 0.1

    # Electronic fences (geo/geofence.py): a point counts as inside when its signed distance to the
    # fence edge is at most  geofence_tolerance_m + min(accuracy_m, geofence_accuracy_cap_m).
    geofence_tolerance_m: float = 10.0
    geofence_accuracy_cap_m: float = 50.0
    # Most checks (or points) in one batch call; the most fences one layer may hold to be searched whole.
    geofence_max_batch: int = 100_000
    geofence_max_layer_fences: int = 200_000

    # Roles of a request that carries no credentials (``make run`` sets ``leader`` for a read-only demo map).
    anonymous_roles: str = "public"

    # Accounts (api/accounts): session lifetimes, lockout, cookies.
    session_hours: float = 12.0  # browser sessions and bearer tokens expire after this long
    session_idle_minutes: float = 120.0  # ... or after this long without a request
    lockout_attempts: int = 5  # failed sign-ins in a row that lock an account
    lockout_minutes: float = 15.0
    # Secure cookies: "auto" marks them Secure unless the request is plain http to a loopback host (development).
    cookie_secure: str = "auto"
    # One-time codes for experts (ST-25): digits, lifetime of a resent code, resend and attempt limits.
    otp_digits: int = 6
    otp_resend_minutes: float = 10.0
    otp_min_interval_s: float = 60.0
    otp_max_per_hour: int = 5
    otp_max_attempts: int = 5
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
    worker_concurrency: int = 2
    task_keep_days: int = 7


@lru_cache
def get_settings() -> Settings:
    return Settings()
