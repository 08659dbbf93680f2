"""The Hangzhou demo data set: ``chengjian demo`` runs every module's seeder (``geo.modules.seeder``) in order.

This file is the shared demo world the seeders draw from: the district profiles, point sampling inside the real
district polygons, the village centres, names and dates, and ``write_layer`` (checked like any import).
Deterministic (one random stream per seeder, derived from the seed and its name, so the same seed gives
byte-identical rows) and realistic: every feature
lies inside the real district polygon it names, outside West Lake; construction
sites and drawing reviews crowd the urban cores, farmhouses cluster into
villages in the suburban and rural districts. Dates count back from a fixed
reference date, never from today.

Everything goes through the same rules as real data (geo.validate.check_many,
geo.layer.attributes.coerce_column — anything rejected stops the load) and is
written with geo.layer.bulk.copy_features in one transaction, leaving audit
entries by actor ``demo``.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from api.accounts.passwords import hash_once
from etl import names
from geo import audit, files, modules
from geo.layer.attributes import coerce_column
from geo.layer.bulk import copy_features
from geo.layer.registry import registry
from geo.validate import check_many

ACTOR = "demo"
REF_DATE = np.datetime64("2026-11-01", "D")  # "today" for every generated date
WEST_LAKE = (120.125, 30.23, 120.165, 30.265)  # kept free of features
CITY_CENTRE = (120.17, 30.27)  # 武林/湖滨: no villages within CITY_CORE_KM
CITY_CORE_KM = 10.0

VILLAGES = 1500
URBAN_PLANTS = 40

_LOCK = 20261125  # pg_advisory_xact_lock key: one demo load at a time


class DemoError(RuntimeError):
    """The demo cannot be loaded (data present, or generated data broke a rule)."""


@dataclass(frozen=True)
class Profile:
    abbr: str  # pinyin initials used in plot numbers (XH1305-06)
    centre: tuple[float, float]  # urban core (lon, lat)
    urban: bool
    core_km: float  # no villages closer than this to the core
    sites: float  # relative construction activity
    villages: float  # relative share of rural villages
    greenway: float  # relative share of greenway length
    plants: int  # urban sewage plants
    greenway_names: tuple[str, ...]


PROFILES: dict[str, Profile] = {
    "上城区": Profile("SC", (120.19, 30.27), True, 99, 10, 0, 6, 3, ("钱塘江", "运河", "贴沙河", "新塘河")),
    "拱墅区": Profile("GS", (120.15, 30.32), True, 99, 9, 0, 6, 2, ("运河", "上塘河", "西塘河", "半山")),
    "西湖区": Profile("XH", (120.10, 30.27), True, 6, 11, 2, 8, 3, ("西溪", "之江", "龙井", "五云山")),
    "滨江区": Profile("BJ", (120.21, 30.21), True, 99, 8, 0, 5, 2, ("钱塘江", "白马湖", "冠山", "北塘河")),
    "萧山区": Profile("XS", (120.27, 30.18), True, 8, 14, 14, 10, 6, ("湘湖", "浦阳江", "萧绍运河", "南沙大堤")),
    "余杭区": Profile("YH", (120.02, 30.28), True, 6, 13, 9, 10, 5, ("良渚", "径山", "南苕溪", "东苕溪")),
    "临平区": Profile("LP", (120.30, 30.42), True, 5, 8, 4, 6, 3, ("超山", "上塘河", "塘栖", "丁山河")),
    "钱塘区": Profile("QT", (120.35, 30.30), True, 6, 9, 4, 6, 3, ("钱塘江", "下沙", "大江东", "义蓬")),
    "富阳区": Profile("FY", (119.96, 30.05), False, 4, 5, 14, 9, 3, ("富春江", "壶源溪", "渌渚江", "东洲")),
    "临安区": Profile("LA", (119.72, 30.23), False, 3, 4, 14, 9, 3, ("青山湖", "天目溪", "昌化溪", "太湖源")),
    "桐庐县": Profile("TL", (119.69, 29.80), False, 3, 3, 10, 8, 2, ("富春江", "分水江", "天子岗", "芦茨")),
    "淳安县": Profile("CA", (119.04, 29.61), False, 2, 2, 15, 9, 2, ("千岛湖", "环湖", "武强溪", "汾口")),
    "建德市": Profile("JD", (119.28, 29.47), False, 3, 3, 14, 8, 3, ("新安江", "兰江", "寿昌江", "三江口")),
}
assert sum(p.plants for p in PROFILES.values()) == URBAN_PLANTS


@dataclass
class District:
    code: str
    name: str
    geom: Any  # prepared shapely (Multi)Polygon
    profile: Profile

    @property
    def short(self) -> str:
        return self.name[:-1]


# -- small helpers -------------------------------------------------------------


def allocate(total: int, weights) -> np.ndarray:
    """Split ``total`` by ``weights`` into integers that add up exactly (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


def deg_per_m(lat) -> tuple[Any, Any]:
    """Degrees of longitude and latitude per metre at ``lat``."""
    return 1.0 / (111_320.0 * np.cos(np.radians(lat))), 1.0 / 110_574.0


def _dist_km(x, y, centre) -> np.ndarray:
    cx, cy = centre
    return np.hypot((x - cx) * 111.32 * math.cos(math.radians(cy)), (y - cy) * 110.574)


def _in_lake(x, y) -> np.ndarray:
    x0, y0, x1, y1 = WEST_LAKE
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _inside(d: District, x, y) -> np.ndarray:
    return shapely.contains_xy(d.geom, x, y) & ~_in_lake(x, y)


def shapes_inside(d: District, geoms) -> np.ndarray:
    return shapely.within(geoms, d.geom) & ~shapely.intersects(geoms, shapely.box(*WEST_LAKE))


def pick(rng: np.random.Generator, values, probs, size: int) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=size, p=p / p.sum())]


def days(rng: np.random.Generator, lo, hi, size: int) -> np.ndarray:
    return rng.integers(lo, hi, size=size, endpoint=True).astype("timedelta64[D]")


def dates(values: np.ndarray, keep=None) -> list:
    """datetime64[D] → list of datetime.date, None where ``keep`` is false."""
    out = values.astype("datetime64[D]")
    if keep is not None:
        out = np.where(keep, out, np.datetime64("NaT", "D"))
    return out.astype(object).tolist()


def numbers(values: np.ndarray, keep=None, digits: int = 1) -> list:
    out = np.round(values.astype(float), digits).astype(object)
    if keep is not None:
        out[~np.asarray(keep, dtype=bool)] = None
    return out.tolist()


def sample_points(
    rng: np.random.Generator, d: District, n: int, centre_share: float = 0.0, sigma_km: float = 5.0, rural: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points inside the district (rounded to 1e-6°): a share around its core, the rest uniform.

    ``rural`` keeps points away from the district core and the city centre (village sites).
    """
    x0, y0, x1, y1 = shapely.bounds(d.geom)
    cx, cy = d.profile.centre
    kx, ky = deg_per_m(cy)
    xs, ys, have = [], [], 0
    for _ in range(10_000):
        if have >= n:
            break
        m = max(256, 4 * (n - have))
        near = rng.random(m) < centre_share
        x = np.where(near, cx + rng.normal(0, sigma_km * 1000, m) * kx, rng.uniform(x0, x1, m))
        y = np.where(near, cy + rng.normal(0, sigma_km * 1000, m) * ky, rng.uniform(y0, y1, m))
        x, y = np.round(x, 6), np.round(y, 6)
        ok = _inside(d, x, y)
        if rural:
            ok &= (_dist_km(x, y, d.profile.centre) >= d.profile.core_km) & (
                _dist_km(x, y, CITY_CENTRE) >= CITY_CORE_KM
            )
        idx = np.flatnonzero(ok)[: n - have]
        xs.append(x[idx])
        ys.append(y[idx])
        have += len(idx)
    if have < n:
        raise DemoError(f"could not place {n} points in {d.name}")
    return np.concatenate(xs), np.concatenate(ys)


def scatter_around(rng: np.random.Generator, d: District, cx, cy, sigma_m, rounds: int = 30):
    """Points scattered (Gaussian, ``sigma_m`` metres) around centres that lie inside ``d``.

    Points that fall outside are redrawn; after ``rounds`` tries a point takes its centre.
    """
    cx, cy = np.asarray(cx, float), np.asarray(cy, float)
    kx, ky = deg_per_m(cy)
    x, y = cx.copy(), cy.copy()
    todo = np.arange(len(cx))
    for _ in range(rounds):
        if not len(todo):
            break
        s = np.broadcast_to(sigma_m, cx.shape)[todo]
        nx = np.round(cx[todo] + rng.normal(0, 1, len(todo)) * s * kx[todo], 6)
        ny = np.round(cy[todo] + rng.normal(0, 1, len(todo)) * s * ky, 6)
        ok = _inside(d, nx, ny)
        x[todo[ok]], y[todo[ok]] = nx[ok], ny[ok]
        todo = todo[~ok]
    return x, y


def fence_polygons(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A fence around each pin: a rotated rectangle (pin off-centre) or an irregular quadrilateral.

    Both are 80–400 m across and contain the pin: the quadrilateral's corners lie at
    increasing angles around the pin with gaps under 180°, so it is simple and star-shaped.
    """
    m = len(x)
    rect = rng.random(m) < 0.5
    a, b = rng.uniform(40, 200, m), rng.uniform(40, 200, m)  # half sides
    u, v = rng.uniform(-0.6, 0.6, m) * a, rng.uniform(-0.6, 0.6, m) * b  # pin offset from centre
    phi = rng.uniform(0, np.pi, m)
    sx = np.array([-1, 1, 1, -1])
    sy = np.array([-1, -1, 1, 1])
    lx = sx[None, :] * a[:, None] - u[:, None]
    ly = sy[None, :] * b[:, None] - v[:, None]
    rx = lx * np.cos(phi)[:, None] - ly * np.sin(phi)[:, None]
    ry = lx * np.sin(phi)[:, None] + ly * np.cos(phi)[:, None]
    radius = rng.uniform(60, 200, m)[:, None] * rng.uniform(0.6, 1.0, (m, 4))
    angle = rng.uniform(0, 2 * np.pi, m)[:, None] + np.arange(4) * np.pi / 2 + rng.uniform(-0.35, 0.35, (m, 4))
    qx, qy = radius * np.cos(angle), radius * np.sin(angle)
    dx = np.where(rect[:, None], rx, qx)
    dy = np.where(rect[:, None], ry, qy)
    kx, ky = deg_per_m(y)
    px = np.round(x[:, None] + dx * kx[:, None], 6)
    py = np.round(y[:, None] + dy * ky, 6)
    ring = np.stack([np.concatenate([px, px[:, :1]], 1), np.concatenate([py, py[:, :1]], 1)], axis=2)
    return shapely.polygons(ring)


# -- project names -------------------------------------------------------------

_SCHOOLS = ("中学", "小学", "实验学校", "幼儿园")
_CN_NUM = "一二三四五六七八九"
_METRO_LINES = tuple(str(i) for i in range(1, 20)) + ("机场快",)


def _house_name(rng, d: District, place: str) -> str:
    k = int(rng.integers(6))
    if k <= 1:
        a, b, c = (int(v) for v in rng.integers(1, (30, 20, 40)))
        plot = f"{d.profile.abbr}{a:02d}{b:02d}-{c:02d}"
        return f"杭州市{d.name}{place}单元{plot}地块商品住宅项目"
    if k == 2:
        return f"{d.name}{place}安置房{_CN_NUM[int(rng.integers(3))]}期工程"
    if k == 3:
        return f"杭州市{d.short}{place}{_SCHOOLS[int(rng.integers(4))]}{('新建', '扩建')[int(rng.integers(2))]}工程"
    if k == 4:
        return f"{d.name}{place}人才公寓项目"
    return f"{place}{('产业园', '科创中心', '商业综合体')[int(rng.integers(3))]}{int(rng.integers(1, 9))}号楼工程"


def _civil_name(rng, d: District, place: str, road: list[str]) -> str:
    k = int(rng.integers(4))
    if k == 0:
        return f"{road[0]}（{road[1]}—{road[2]}）道路工程"
    if k == 1:
        return f"{d.name}{road[0]}提升改造工程"
    if k == 2:
        return f"{place}大桥工程"
    return f"{d.name}{place}综合管廊工程"


def project_name(rng, kind: str, d: District, place: str, road: list[str]) -> str:
    """A project name that fits its category (房屋建筑, 市政基础设施, 轨道交通, 水利, 人防, 消防, 防雷, 其他)."""
    if kind == "房屋建筑":
        return _house_name(rng, d, place)
    if kind == "市政基础设施":
        return _civil_name(rng, d, place, road)
    if kind == "轨道交通":
        return f"杭州地铁{_METRO_LINES[int(rng.integers(len(_METRO_LINES)))]}号线{place}站土建工程"
    if kind == "水利":
        return f"{d.name}{place}{('河综合整治工程', '闸站工程', '堤防加固工程')[int(rng.integers(3))]}"
    if kind == "人防":
        return f"{d.name}{place}{('地下人防工程', '人防地下室工程')[int(rng.integers(2))]}"
    if kind == "消防":
        return f"{place}{('商业综合体', '酒店', '厂房', '仓储中心')[int(rng.integers(4))]}消防工程"
    if kind == "防雷":
        return f"{place}{('物流园', '加油站', '数据中心')[int(rng.integers(3))]}防雷工程"
    return f"{d.name}{place}{('公园景观提升工程', '公共停车场工程', '变电站工程')[int(rng.integers(3))]}"


def addresses(rng, d: District, size: int) -> list[str]:
    rs = names.roads(rng, 2 * size)
    num = rng.integers(1, 999, size)
    cross = rng.random(size) < 0.4
    side = pick(rng, ("东", "西", "南", "北", "东南", "西北"), np.ones(6), size)
    return [
        f"杭州市{d.name}{rs[2 * i]}与{rs[2 * i + 1]}交叉口{side[i]}侧"
        if cross[i]
        else f"杭州市{d.name}{rs[2 * i]}{num[i]}号"
        for i in range(size)
    ]


def seq_codes(prefix: str, seq, width: int) -> list[str]:
    return [f"{prefix}{int(s):0{width}d}" for s in seq]


# -- writing -------------------------------------------------------------------


def write_layer(conn: Connection, layer_id: str, geoms, columns: dict[str, Any], source: str) -> dict:
    """Check geometries and attributes like any import, then COPY them in; any rejection raises DemoError."""
    layer = registry.get(layer_id)
    if layer is None:
        raise DemoError(f"unknown layer {layer_id}")
    geoms = np.asarray(geoms, dtype=object)
    checked = check_many(geoms, layer.geometry)
    for i, e in enumerate(checked.errors):
        if e is not None:
            raise DemoError(f"{layer_id} row {i}: {e}")
    missing = [a.name for a in layer.attrs if a.required and a.name not in columns]
    if missing:
        raise DemoError(f"{layer_id}: required attribute(s) missing: {', '.join(missing)}")
    typed: dict[str, list] = {}
    for name, values in columns.items():
        values = values.tolist() if isinstance(values, np.ndarray) else list(values)
        if len(values) != len(geoms):
            raise DemoError(f"{layer_id}.{name}: {len(values)} values for {len(geoms)} rows")
        out, errors = coerce_column(layer.attr(name), values)
        if errors:
            i = min(errors)
            raise DemoError(f"{layer_id} row {i}: {errors[i].code}: {errors[i].message} ({values[i]!r})")
        typed[name] = out
    return copy_features(conn, layer, checked.geoms, typed, actor=ACTOR, action="demo", source=source)


def load_districts(conn: Connection) -> list[District]:
    rows = conn.execute(
        sa.text("SELECT code, name, ST_AsBinary(geom) FROM districts WHERE deleted_at IS NULL ORDER BY code")
    ).all()
    out = []
    for code, name, wkb in rows:
        if name not in PROFILES:
            continue
        g = shapely.from_wkb(bytes(wkb))
        shapely.prepare(g)
        out.append(District(code, name, g, PROFILES[name]))
    if len(out) != len(PROFILES):
        raise DemoError(f"districts table has {len(out)} of the {len(PROFILES)} Hangzhou districts: run migrations")
    return out


def business_tables() -> list[str]:
    """What ``reset`` empties and ``if_empty`` looks at: every layer but the reference data (districts and townships)."""
    return [lyr.table for lyr in registry.business()]


def layer_counts(conn: Connection) -> dict[str, int]:
    return {
        t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE deleted_at IS NULL")).scalar_one())
        for t in business_tables()
    }


def _any_rows(conn: Connection) -> bool:
    return any(conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {t})")).scalar_one() for t in business_tables())


def reset_layers(conn: Connection) -> None:
    """Empty the business layers and restart their ids; one audit entry per layer that had rows."""
    before = layer_counts(conn)
    conn.execute(sa.text(f"TRUNCATE {', '.join(before)} RESTART IDENTITY CASCADE"))
    for t, n in before.items():
        if n:
            audit.record(conn, ACTOR, "reset", t, None, {"rows": n}, None)


# -- the shared world: villages ------------------------------------------------


@dataclass
class Villages:
    x: np.ndarray
    y: np.ndarray
    district: np.ndarray  # index into the district list
    township: np.ndarray  # names (object)
    village: np.ndarray
    sigma_m: np.ndarray  # house scatter around the centre
    weight: np.ndarray  # relative number of houses


def make_villages(rng, districts: list[District]) -> Villages:
    """Administrative villages, each under the nearest of its district's generated townships."""
    per = allocate(VILLAGES, [d.profile.villages for d in districts])
    parts: dict[str, list] = {k: [] for k in ("x", "y", "district", "township", "village")}
    for di, (d, k) in enumerate(zip(districts, per)):
        if k == 0:
            continue
        x, y = sample_points(rng, d, k, rural=True)
        nt = max(2, round(k / 12))
        tx, ty = sample_points(rng, d, nt, rural=True)
        suffix = pick(rng, ("镇", "乡", "街道"), (60, 15, 25), nt)
        towns = [p + s for p, s in zip(names.places(rng, nt), suffix)]
        nearest = np.argmin((x[:, None] - tx[None, :]) ** 2 + (y[:, None] - ty[None, :]) ** 2, axis=1)
        order = np.argsort(nearest, kind="stable")  # villages grouped by township
        parts["x"].append(x[order])
        parts["y"].append(y[order])
        parts["district"].append(np.full(k, di))
        parts["township"].append(np.asarray(towns, dtype=object)[nearest[order]])
        parts["village"].append(np.asarray([p + "村" for p in names.places(rng, k)], dtype=object))
    n = sum(len(a) for a in parts["x"])
    return Villages(
        *(np.concatenate(parts[k]) for k in ("x", "y", "district", "township", "village")),
        sigma_m=rng.uniform(100, 250, n),
        weight=rng.lognormal(0, 0.5, n),
    )


# -- entry point ---------------------------------------------------------------


class World:
    """What every module's demo seeder draws from: the districts, a random stream per name (so a module's data
    does not change when another module is added), the shared village centres, the farmhouse count, the source."""

    def __init__(self, seed: int, districts: list[District], farmhouses: int, source: str, scale: float = 1.0) -> None:
        self.seed, self.districts, self.farmhouses, self.source = seed, districts, farmhouses, source
        self.scale = scale  # of the registers' city volumes (``count``); 1 in the demo, smaller in tests
        self._villages: Villages | None = None

    def count(self, volume: int) -> int:
        """A register's row count at this world's scale (the demo's city volume at scale 1)."""
        return max(1, round(volume * self.scale))

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    @property
    def villages(self) -> Villages:
        """Administrative villages (farmhouses cluster around them; rural sewage terminals serve them)."""
        if self._villages is None:
            self._villages = make_villages(self.rng("villages"), self.districts)
        return self._villages


def build_demo(
    farmhouses: int = 50_000,
    seed: int = 20261125,
    if_empty: bool = False,
    reset: bool = False,
    engine: Engine | None = None,
    scale: float = 1.0,
) -> dict:
    """Load the demo data set in one transaction; returns the number of rows per layer.

    ``scale`` scales the registers' city volumes (20,000 enterprises, 100,000 persons, 5,000 projects, 50,000
    credit events at 1; ``World.count``): the tests of the whole demo load it small, the registers' own tests check
    their seeders at full volume.

    Every module's seeder (``geo.modules.seeder``) runs in its declared order.
    ``reset`` first empties every business layer (TRUNCATE … RESTART IDENTITY CASCADE, so
    ids start at 1 again; districts and townships stay). Otherwise the layers must be empty:
    with ``if_empty`` a non-empty database is left alone (``{"skipped": true, ...}``),
    without it the load refuses (DemoError) rather than mixing demo and real data.
    """
    if farmhouses < 0:
        raise DemoError("farmhouses must be >= 0")
    if not 0 < scale <= 1:
        raise DemoError("scale must be in (0, 1]")
    if engine is None:
        from geo.db import admin_engine

        engine = admin_engine()  # the schema owner: row-level security does not apply
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        if not reset and _any_rows(conn):
            if if_empty:
                return {"skipped": True, "message": "业务图层已有数据，跳过演示数据加载。", **layer_counts(conn)}
            raise DemoError("业务图层已有数据：使用 --reset 清空后重新加载，或使用 --if-empty 跳过。")
        if reset:
            reset_layers(conn)
        source = f"etl.demo seed={seed} farmhouses={farmhouses}" + (f" scale={scale}" if scale != 1 else "")
        world = World(seed, load_districts(conn), farmhouses, source, scale)
        out: dict[str, Any] = {}
        # The demo's accounts share the demo password: hashed once (argon2 is slow by design). The seeders' files are
        # flushed to disk together, before the transaction commits.
        with hash_once(), files.synced_together():
            for s in modules.seeders():
                out |= s.run(conn, world)
    with engine.connect() as conn:  # fresh statistics for the planner and for layer extents
        for layer in registry.business():
            conn.execute(sa.text(f"ANALYZE {layer.table}"))
        conn.commit()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
