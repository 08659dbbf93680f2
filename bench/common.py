"""Shared bench helpers: a scratch database on the same server, timers, random tiles over Hangzhou."""

from __future__ import annotations

import contextlib
import math
import time
import uuid

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from geo.cluster import ensure_database
from geo.db import database_url, private_cluster
from geo.settings import get_settings

HANGZHOU = (118.34, 29.19, 120.72, 30.56)


def server_url() -> str:
    if not get_settings().database_url:
        private_cluster().start()
    return database_url()


@contextlib.contextmanager
def scratch_database(prefix: str = "bench"):
    """A fresh, migrated database on the same server; dropped afterwards."""
    from geo.migrate import upgrade

    url = make_url(server_url()).set(database=f"{prefix}_{uuid.uuid4().hex[:8]}")
    text_url = url.render_as_string(hide_password=False)
    ensure_database(text_url)
    upgrade(text_url)
    try:
        yield text_url
    finally:
        admin = url.set(database="postgres", drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def random_tiles(z: int, count: int, seed: int = 1) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(seed)
    lons = rng.uniform(HANGZHOU[0], HANGZHOU[2], count)
    lats = rng.uniform(HANGZHOU[1], HANGZHOU[3], count)
    return [(z, *tile_of(lo, la, z)) for lo, la in zip(lons, lats)]


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
