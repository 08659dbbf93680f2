"""The Hangzhou demo data set: ``chengjian demo``.

Deterministic (one ``numpy.random.default_rng(seed)``, split into one stream per
layer, so the same seed gives byte-identical rows) and realistic: every feature
lies inside the real district polygon it names, outside West Lake; construction
sites and drawing reviews crowd the urban cores, farmhouses cluster into
villages in the suburban and rural districts. Dates count back from a fixed
reference date, never from today.

Everything goes through the same rules as real data (geo.validate.check_many,
layers.attributes.coerce_column — anything rejected stops the load) and is
written with layers.bulk.copy_features in one transaction, leaving audit
entries by actor ``demo``.

Farmhouse danger grades: existing and completed houses carry an appraisal
grade, ``A`` for safe and ``B``/``C``/``D`` for the few percent of dangerous
houses (older, brick-wood or earth houses are likelier); houses still under
approval or under construction have none (NULL). ``governance`` is set only for
dangerous houses; ``difficult_family`` is true or false for every house.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from pyproj import Geod
from sqlalchemy import Connection, Engine

from etl import names
from geo import audit
from geo.validate import check_many
from layers.attributes import coerce_column
from layers.bulk import copy_features
from layers.registry import registry
from layers.standard_sites.demo import seed_projects

ACTOR = "demo"
REF_DATE = np.datetime64("2026-11-01", "D")  # "today" for every generated date
DEMO_LAYERS = ("sites", "site_fences", "review_projects", "farmhouses", "sewage_plants", "greenways")
WEST_LAKE = (120.125, 30.23, 120.165, 30.265)  # kept free of features
CITY_CENTRE = (120.17, 30.27)  # 武林/湖滨: no villages within CITY_CORE_KM
CITY_CORE_KM = 10.0
CHUNK = 200_000  # farmhouses per COPY batch

SITES = 600
REVIEWS = 300
VILLAGES = 1500
HOUSES_PER_VILLAGE = 30  # at least, on average
URBAN_PLANTS = 40
RURAL_TERMINALS = 360
GREENWAY_KM = 500.0

GEOD = Geod(ellps="WGS84")
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

def _allocate(total: int, weights) -> np.ndarray:
    """Split ``total`` by ``weights`` into integers that add up exactly (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


def _deg_per_m(lat) -> tuple[Any, Any]:
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


def _shapes_inside(d: District, geoms) -> np.ndarray:
    return shapely.within(geoms, d.geom) & ~shapely.intersects(geoms, shapely.box(*WEST_LAKE))


def _pick(rng: np.random.Generator, values, probs, size: int) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=size, p=p / p.sum())]


def _days(rng: np.random.Generator, lo, hi, size: int) -> np.ndarray:
    return rng.integers(lo, hi, size=size, endpoint=True).astype("timedelta64[D]")


def _dates(values: np.ndarray, keep=None) -> list:
    """datetime64[D] → list of datetime.date, None where ``keep`` is false."""
    out = values.astype("datetime64[D]")
    if keep is not None:
        out = np.where(keep, out, np.datetime64("NaT", "D"))
    return out.astype(object).tolist()


def _numbers(values: np.ndarray, keep=None, digits: int = 1) -> list:
    out = np.round(values.astype(float), digits).astype(object)
    if keep is not None:
        out[~np.asarray(keep, dtype=bool)] = None
    return out.tolist()


def sample_points(rng: np.random.Generator, d: District, n: int, centre_share: float = 0.0,
                  sigma_km: float = 5.0, rural: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points inside the district (rounded to 1e-6°): a share around its core, the rest uniform.

    ``rural`` keeps points away from the district core and the city centre (village sites).
    """
    x0, y0, x1, y1 = shapely.bounds(d.geom)
    cx, cy = d.profile.centre
    kx, ky = _deg_per_m(cy)
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
                _dist_km(x, y, CITY_CENTRE) >= CITY_CORE_KM)
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
    kx, ky = _deg_per_m(cy)
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
    kx, ky = _deg_per_m(y)
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


def _addresses(rng, d: District, size: int) -> list[str]:
    rs = names.roads(rng, 2 * size)
    num = rng.integers(1, 999, size)
    cross = rng.random(size) < 0.4
    side = _pick(rng, ("东", "西", "南", "北", "东南", "西北"), np.ones(6), size)
    return [f"杭州市{d.name}{rs[2 * i]}与{rs[2 * i + 1]}交叉口{side[i]}侧" if cross[i]
            else f"杭州市{d.name}{rs[2 * i]}{num[i]}号" for i in range(size)]


def _seq_codes(prefix: str, seq, width: int) -> list[str]:
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
    rows = conn.execute(sa.text(
        "SELECT code, name, ST_AsBinary(geom) FROM districts WHERE deleted_at IS NULL ORDER BY code")).all()
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
    """What ``reset`` empties and ``if_empty`` looks at: every layer outside the base module
    (districts and townships are reference data)."""
    return [lyr.table for lyr in registry.all() if lyr.module != "base"]


def layer_counts(conn: Connection) -> dict[str, int]:
    return {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE deleted_at IS NULL")).scalar_one())
            for t in business_tables()}


def _any_rows(conn: Connection) -> bool:
    return any(conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {t})")).scalar_one()
               for t in business_tables())


def reset_layers(conn: Connection) -> None:
    """Empty the business layers and restart their ids; one audit entry per layer that had rows."""
    before = layer_counts(conn)
    conn.execute(sa.text(f"TRUNCATE {', '.join(before)} RESTART IDENTITY CASCADE"))
    for t, n in before.items():
        if n:
            audit.record(conn, ACTOR, "reset", t, None, {"rows": n}, None)


# -- layers --------------------------------------------------------------------

def build_sites(conn, rng, districts: list[District], source: str) -> dict:
    per = _allocate(SITES, [d.profile.sites for d in districts])
    geoms, fences, cols = [], [], {k: [] for k in (
        "code", "name", "district", "address", "permit_no", "builder", "construction_unit", "supervision_unit",
        "project_type", "floor_area_m2", "investment_wan", "start_date", "planned_end_date", "status")}
    builders = names.companies(rng, 80, names.BUILDER_PATTERNS)
    contractors = names.companies(rng, 60, names.CONSTRUCTION_PATTERNS)
    supervisors = names.companies(rng, 30, names.SUPERVISION_PATTERNS)
    for d, k in zip(districts, per):
        sigma = 5.0 if d.profile.urban else 3.0
        xs, ys, fs, have = [], [], [], 0
        while have < k:  # pins whose fence also fits inside the district
            x, y = sample_points(rng, d, 2 * (k - have) + 4, centre_share=0.8, sigma_km=sigma)
            f = fence_polygons(rng, x, y)
            ok = np.flatnonzero(_shapes_inside(d, f))[: k - have]
            xs.append(x[ok])
            ys.append(y[ok])
            fs.append(f[ok])
            have += len(ok)
        x, y, f = np.concatenate(xs), np.concatenate(ys), np.concatenate(fs)
        geoms.append(shapely.points(x, y))
        fences.append(f)
        ptype = _pick(rng, ("房屋建筑", "市政基础设施", "轨道交通", "水利", "其他"), (62, 20, 6, 5, 7), k)
        status = _pick(rng, ("在建", "停工", "竣工验收", "考评中", "已获评"), (60, 5, 15, 12, 8), k)
        back = {"在建": (30, 900), "停工": (200, 1100), "竣工验收": (600, 1500), "考评中": (90, 700),
                "已获评": (400, 1400)}
        start = np.array([REF_DATE - int(rng.integers(*back[s])) for s in status], dtype="datetime64[D]")
        end = start + _days(rng, 360, 1100, k)
        places = names.places(rng, k, unique=False)
        area = np.where(ptype == "房屋建筑", rng.lognormal(math.log(60_000), 0.8, k).clip(3_000, 600_000),
                        np.where(ptype == "轨道交通", rng.lognormal(math.log(20_000), 0.4, k),
                                 rng.lognormal(math.log(5_000), 0.8, k)))
        per_m2 = rng.uniform(0.3, 0.7, k)  # 万元 per m²
        other = rng.lognormal(math.log(20_000), 0.9, k).clip(500, 500_000)
        invest = np.where(ptype == "房屋建筑", area * per_m2, np.where(ptype == "轨道交通", other * 4, other))
        has_area = np.isin(ptype, ("房屋建筑", "轨道交通", "其他"))
        seq = np.arange(1, k + 1)
        years = start.astype("datetime64[Y]").astype(int) + 1970
        cols["code"] += [f"{d.code}-{yr}-{s:04d}" for yr, s in zip(years, seq)]
        cols["permit_no"] += [f"{d.code}{str(st).replace('-', '')}{s % 100:02d}01" for st, s in zip(start, seq)]
        cols["name"] += [project_name(rng, t, d, p, names.roads(rng, 3)) for t, p in zip(ptype, places)]
        cols["district"] += [d.name] * k
        cols["address"] += _addresses(rng, d, k)
        cols["builder"] += [builders[i] for i in rng.integers(len(builders), size=k)]
        cols["construction_unit"] += [contractors[i] for i in rng.integers(len(contractors), size=k)]
        cols["supervision_unit"] += [supervisors[i] for i in rng.integers(len(supervisors), size=k)]
        cols["project_type"] += ptype.tolist()
        cols["floor_area_m2"] += _numbers(area, has_area)
        cols["investment_wan"] += _numbers(invest)
        cols["start_date"] += _dates(start)
        cols["planned_end_date"] += _dates(end)
        cols["status"] += status.tolist()
    res = write_layer(conn, "sites", np.concatenate(geoms), cols, source)
    ids = dict(conn.execute(sa.text("SELECT code, id FROM sites WHERE id BETWEEN :a AND :b"),
                            {"a": res["first_id"], "b": res["last_id"]}).all())
    fence_cols = {"site_id": [ids[c] for c in cols["code"]],
                  "name": [f"{n}电子围栏" for n in cols["name"]],
                  "district": cols["district"]}
    fres = write_layer(conn, "site_fences", np.concatenate(fences), fence_cols, source)
    return {"sites": res["rows"], "site_fences": fres["rows"]}


def build_reviews(conn, rng, districts: list[District], source: str) -> dict:
    per = _allocate(REVIEWS, [d.profile.sites for d in districts])
    builders = names.companies(rng, 60, names.BUILDER_PATTERNS)
    designers = names.companies(rng, 25, names.DESIGNER_PATTERNS)
    geoms, cols = [], {k: [] for k in (
        "code", "name", "district", "builder", "designer", "agency", "review_category", "grade", "floor_area_m2",
        "investment_wan", "submitted_at", "concluded_at", "status")}
    for d, k in zip(districts, per):
        x, y = sample_points(rng, d, k, centre_share=0.85, sigma_km=5.0 if d.profile.urban else 3.0)
        geoms.append(shapely.points(x, y))
        cat = _pick(rng, ("房屋建筑", "市政基础设施", "人防", "消防", "防雷"), (60, 20, 8, 8, 4), k)
        status = _pick(rng, ("已受理", "审查中", "待回复", "审查合格", "已发证"), (10, 25, 15, 25, 25), k)
        area = rng.lognormal(math.log(40_000), 0.9, k).clip(500, 800_000)
        grade = np.where(area > 100_000, "一类", np.where(area > 20_000, "二类", "三类"))
        grade = np.where(rng.random(k) < 0.1, _pick(rng, ("一类", "二类", "三类"), (1, 1, 1), k), grade)
        invest = area * rng.uniform(0.3, 0.7, k)
        back = np.where(status == "已受理", rng.integers(1, 15, k), rng.integers(10, 400, k))
        submitted = REF_DATE - back.astype("timedelta64[D]")
        concluded = np.minimum(submitted + _days(rng, 7, 45, k), REF_DATE)
        years = submitted.astype("datetime64[Y]").astype(int) + 1970
        places = names.places(rng, k, unique=False)
        cols["code"] += [f"SC{d.code}{yr}{s:04d}" for yr, s in zip(years, range(1, k + 1))]
        cols["name"] += [project_name(rng, c, d, p, names.roads(rng, 3)) for c, p in zip(cat, places)]
        cols["district"] += [d.name] * k
        cols["builder"] += [builders[i] for i in rng.integers(len(builders), size=k)]
        cols["designer"] += [designers[i] for i in rng.integers(len(designers), size=k)]
        cols["agency"] += _pick(rng, names.REVIEW_AGENCIES, (30, 20, 15, 15, 10, 10), k).tolist()
        cols["review_category"] += cat.tolist()
        cols["grade"] += grade.tolist()
        cols["floor_area_m2"] += _numbers(area, cat != "市政基础设施")
        cols["investment_wan"] += _numbers(invest)
        cols["submitted_at"] += _dates(submitted)
        cols["concluded_at"] += _dates(concluded, np.isin(status, ("审查合格", "已发证")))
        cols["status"] += status.tolist()
    res = write_layer(conn, "review_projects", np.concatenate(geoms), cols, source)
    return {"review_projects": res["rows"]}


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
    per = _allocate(VILLAGES, [d.profile.villages for d in districts])
    parts: dict[str, list] = {k: [] for k in ("x", "y", "district", "township", "village")}
    for di, (d, k) in enumerate(zip(districts, per)):
        if k == 0:
            continue
        x, y = sample_points(rng, d, k, rural=True)
        nt = max(2, round(k / 12))
        tx, ty = sample_points(rng, d, nt, rural=True)
        suffix = _pick(rng, ("镇", "乡", "街道"), (60, 15, 25), nt)
        towns = [p + s for p, s in zip(names.places(rng, nt), suffix)]
        nearest = np.argmin((x[:, None] - tx[None, :]) ** 2 + (y[:, None] - ty[None, :]) ** 2, axis=1)
        order = np.argsort(nearest, kind="stable")  # villages grouped by township
        parts["x"].append(x[order])
        parts["y"].append(y[order])
        parts["district"].append(np.full(k, di))
        parts["township"].append(np.asarray(towns, dtype=object)[nearest[order]])
        parts["village"].append(np.asarray([p + "村" for p in names.places(rng, k)], dtype=object))
    n = sum(len(a) for a in parts["x"])
    return Villages(*(np.concatenate(parts[k]) for k in ("x", "y", "district", "township", "village")),
                    sigma_m=rng.uniform(100, 250, n), weight=rng.lognormal(0, 0.5, n))


def _farmhouse_columns(rng, d: District, v: Villages, vi: np.ndarray, seq: np.ndarray) -> dict[str, Any]:
    n = len(vi)
    status = _pick(rng, ("存量", "审批中", "在建", "已竣工"), (93, 2.5, 2.5, 2), n)
    standing = np.isin(status, ("存量", "已竣工"))
    structure = _pick(rng, ("砖混", "框架", "砖木", "木结构", "土木", "石结构", "其他"), (55, 20, 12, 3, 5, 3, 2), n)
    structure = np.where(standing, structure, _pick(rng, ("框架", "砖混"), (70, 30), n))
    old = np.isin(structure, ("砖木", "木结构", "土木", "石结构"))
    year = np.where(old, rng.normal(1975, 12, n), np.where(structure == "框架", rng.normal(2010, 7, n),
                                                                rng.normal(1998, 10, n)))
    year = np.round(year).clip(1950, 2024).astype(int)
    year = np.where(status == "已竣工", rng.integers(2023, 2027, n), year)
    floors = _pick(rng, (1, 2, 3, 4, 5), (12, 35, 40, 11, 2), n).astype(int)
    floors = np.where(old, np.minimum(floors, 2), floors)
    area = floors * rng.normal(120, 30, n).clip(50, 250)
    # Dangerous houses: about 4 % of all, likelier for old and weak structures.
    weight = np.exp((1990 - year) / 15.0) * np.where(old, 3.0, 1.0) * (status == "存量")
    p = (0.04 * n / weight.sum()) * weight if weight.sum() else weight
    dangerous = rng.random(n) < np.minimum(p, 0.9)
    grade = np.where(dangerous, _pick(rng, ("B", "C", "D"), (55, 33, 12), n), np.where(standing, "A", None))
    gov_b = _pick(rng, ("维修加固", "已治理", "未治理", "拆除重建"), (45, 25, 25, 5), n)
    gov_c = _pick(rng, ("维修加固", "拆除重建", "已治理", "未治理", "搬迁"), (35, 20, 20, 20, 5), n)
    gov_d = _pick(rng, ("拆除重建", "拆除", "搬迁", "已治理", "未治理"), (35, 20, 15, 15, 15), n)
    governance = np.where(grade == "B", gov_b, np.where(grade == "C", gov_c, np.where(grade == "D", gov_d, None)))
    difficult = rng.random(n) < np.where(dangerous, 0.15, 0.015)
    group = rng.integers(1, 13, n)
    number = rng.integers(1, 200, n)
    town, vill = v.township[vi], v.village[vi]
    return {
        "code": _seq_codes(f"NF{d.code}", seq, 7),
        "owner_name": names.person_names(rng, n),
        "district": [d.name] * n,
        "township": town,
        "village": vill,
        "address": [f"{d.name}{t}{vv}{g}组{k}号" for t, vv, g, k in zip(town, vill, group, number)],
        "floors": floors,
        "structure": structure,
        "built_year": np.where(standing, year, None).astype(object),
        "floor_area_m2": _numbers(area),
        "status": status,
        "danger_grade": grade,
        "governance": governance,
        "difficult_family": difficult,
    }


def build_farmhouses(conn, rng, districts: list[District], v: Villages, n: int, source: str) -> dict:
    """``n`` farmhouses spread over the villages (sizes vary), written in chunks of CHUNK.

    Villages hold about HOUSES_PER_VILLAGE houses or more: a small ``n`` fills only some of them.
    """
    w = v.weight / v.weight.sum()
    used = min(len(w), max(1, n // HOUSES_PER_VILLAGE))
    active = np.sort(rng.choice(len(w), size=used, replace=False, p=w))
    counts = rng.multinomial(n, w[active] / w[active].sum())
    village_of = np.repeat(active, counts)  # sorted: villages are ordered by district
    dist_of = v.district[village_of]
    block_start = np.searchsorted(dist_of, dist_of, side="left")
    seq = np.arange(n) - block_start + 1  # per-district running number
    rows = dangerous = 0
    chunk_rngs = rng.spawn(max(1, -(-n // CHUNK)))
    for c, start in enumerate(range(0, n, CHUNK)):
        crng = chunk_rngs[c]
        sl = slice(start, min(n, start + CHUNK))
        geoms = np.empty(sl.stop - sl.start, dtype=object)
        cols: dict[str, list] = {}
        for di in np.unique(dist_of[sl]):  # rows are sorted by district: blocks append in order
            d = districts[di]
            local = np.flatnonzero(dist_of[sl] == di)
            vi = village_of[sl][local]
            x, y = scatter_around(crng, d, v.x[vi], v.y[vi], v.sigma_m[vi])
            geoms[local] = shapely.points(x, y)
            part = _farmhouse_columns(crng, d, v, vi, seq[sl][local])
            for k, vals in part.items():
                cols.setdefault(k, []).extend(vals.tolist() if isinstance(vals, np.ndarray) else vals)
        res = write_layer(conn, "farmhouses", geoms, cols, source)
        rows += res["rows"]
        dangerous += sum(g in ("B", "C", "D") for g in cols["danger_grade"])
    return {"farmhouses": rows, "dangerous_farmhouses": dangerous}


def build_sewage(conn, rng, districts: list[District], v: Villages, source: str) -> dict:
    geoms, cols = [], {k: [] for k in ("code", "name", "district", "kind", "capacity_t_d", "process",
                                         "discharge_standard", "operator", "status", "commissioned_on")}
    place_pool = iter(names.places(rng, URBAN_PLANTS))
    operators = names.companies(rng, 20, names.OPERATOR_PATTERNS)
    terminals = np.sort(rng.choice(len(v.x), RURAL_TERMINALS, replace=False, p=v.weight / v.weight.sum()))
    for di, d in enumerate(districts):
        k = d.profile.plants
        x, y = sample_points(rng, d, k, centre_share=1.0, sigma_km=4.0 if d.profile.urban else 2.5)
        cap = rng.lognormal(math.log(1.2e5 if d.profile.urban else 3e4), 0.7, k).clip(1e4, 6e5)
        kind_name = _pick(rng, ("污水处理厂", "净水厂", "水质净化厂"), (60, 25, 15), k)
        t = terminals[v.district[terminals] == di]
        tx, ty = scatter_around(rng, d, v.x[t], v.y[t], 200.0)
        m = len(t)
        geoms += [shapely.points(x, y), shapely.points(tx, ty)]
        prefix = "杭州市" if d.name in ("上城区", "拱墅区", "西湖区", "滨江区") else d.short
        cols["code"] += _seq_codes(f"WSC{d.code}", range(1, k + 1), 3) + _seq_codes(f"WSN{d.code}", range(1, m + 1), 4)
        cols["name"] += [f"{prefix}{next(place_pool)}{s}" for s in kind_name] + [
            f"{tw}{vl}污水处理终端" for tw, vl in zip(v.township[t], v.village[t])]
        cols["district"] += [d.name] * (k + m)
        cols["kind"] += ["城镇污水处理厂"] * k + ["农村污水处理终端"] * m
        cols["capacity_t_d"] += _numbers(np.round(cap / 5000) * 5000) + _numbers(
            np.round(rng.lognormal(math.log(50), 0.8, m).clip(10, 500) / 5) * 5)
        cols["process"] += _pick(rng, ("AAO", "MBR", "氧化沟", "SBR", "生物滤池"), (50, 20, 15, 10, 5), k).tolist()
        cols["process"] += _pick(rng, ("人工湿地", "生物滤池", "MBR", "AAO", "SBR", "其他"),
                                 (25, 25, 15, 25, 5, 5), m).tolist()
        cols["discharge_standard"] += _pick(rng, ("一级A", "准IV类"), (65, 35), k).tolist()
        cols["discharge_standard"] += _pick(rng, ("一级A", "一级B", "二级"), (40, 40, 20), m).tolist()
        cols["operator"] += [f"杭州{d.short}水务有限公司"] * k + [operators[i] for i in rng.integers(20, size=m)]
        status = np.concatenate([_pick(rng, ("正常运行", "在建", "整改中"), (90, 5, 5), k),
                                 _pick(rng, ("正常运行", "停运", "整改中", "在建"), (88, 4, 6, 2), m)])
        since = np.concatenate([np.datetime64("1995-01-01") + _days(rng, 0, 30 * 365, k),
                                np.datetime64("2005-01-01") + _days(rng, 0, 20 * 365, m)])
        cols["status"] += status.tolist()
        cols["commissioned_on"] += _dates(since, status != "在建")  # not yet in service
    res = write_layer(conn, "sewage_plants", np.concatenate(geoms), cols, source)
    return {"sewage_plants": res["rows"]}


def random_walk(rng, d: District, length_km: float, step_m: float = 150.0, tries: int = 400):
    """A smooth random-walk line of about ``length_km`` inside ``d``; shorter if it will not fit."""
    for attempt in range(tries):
        if attempt and attempt % 100 == 0:
            length_km = max(0.5, length_km * 0.7)
        x0, y0 = sample_points(rng, d, 1, centre_share=0.4 if d.profile.urban else 0.2, sigma_km=6.0)
        steps = max(2, math.ceil(length_km * 1000 / step_m))
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.15, steps))
        seg = np.full(steps, length_km * 1000 / steps)
        kx, ky = _deg_per_m(y0[0])
        x = np.round(x0[0] + np.concatenate([[0], np.cumsum(seg * np.cos(heading))]) * kx, 6)
        y = np.round(y0[0] + np.concatenate([[0], np.cumsum(seg * np.sin(heading))]) * ky, 6)
        line = shapely.linestrings(x, y)
        if line.is_valid and _shapes_inside(d, np.array([line]))[0]:
            return line
    raise DemoError(f"no greenway of {length_km:.1f} km fits in {d.name}")


def build_greenways(conn, rng, districts: list[District], source: str) -> dict:
    budgets = GREENWAY_KM * np.array([d.profile.greenway for d in districts]) / sum(
        d.profile.greenway for d in districts)
    geoms, cols = [], {k: [] for k in ("code", "name", "district", "level", "kind", "status", "plan_year",
                                         "fund_wan")}
    for d, budget in zip(districts, budgets):
        left, seq, lengths = float(budget), 0, []
        while left > 1e-3:
            want = float(np.clip(rng.lognormal(math.log(3.0), 0.5), 0.5, 8.0))
            if left - want < 0.5:
                want = max(left, 0.5)
            line = random_walk(rng, d, want)
            km = GEOD.geometry_length(line) / 1000
            geoms.append(line)
            lengths.append(km)
            left -= km
            seq += 1
        k = seq
        km = np.array(lengths)
        status = _pick(rng, ("已建成", "在建", "规划"), (65, 20, 15), k)
        year = np.where(status == "已建成", rng.integers(2012, 2026, k),
                        np.where(status == "在建", rng.integers(2025, 2027, k), rng.integers(2026, 2029, k)))
        kinds = (40, 35, 25) if d.profile.urban else (15, 45, 40)
        sections = names.places(rng, k, unique=False)
        base = _pick(rng, d.profile.greenway_names, np.ones(len(d.profile.greenway_names)), k)
        cols["code"] += _seq_codes(f"LD{d.code}", range(1, k + 1), 3)
        cols["name"] += [f"{b}绿道（{s}段）" for b, s in zip(base, sections)]
        cols["district"] += [d.name] * k
        cols["level"] += _pick(rng, ("省级", "市级", "区县级"), (15, 35, 50), k).tolist()
        cols["kind"] += _pick(rng, ("城镇型", "郊野型", "生态型"), kinds, k).tolist()
        cols["status"] += status.tolist()
        cols["plan_year"] += year.tolist()
        cols["fund_wan"] += _numbers(km * rng.uniform(100, 400, k))
    res = write_layer(conn, "greenways", np.array(geoms, dtype=object), cols, source)
    total = conn.execute(sa.text("SELECT coalesce(sum(length_m), 0) FROM greenways WHERE id BETWEEN :a AND :b"),
                         {"a": res["first_id"], "b": res["last_id"]}).scalar_one()
    return {"greenways": res["rows"], "greenway_km": round(float(total) / 1000, 1)}


# -- entry point ---------------------------------------------------------------

def build_demo(farmhouses: int = 50_000, seed: int = 20261125, if_empty: bool = False, reset: bool = False,
               engine: Engine | None = None) -> dict:
    """Load the demo data set in one transaction; returns the number of rows per layer.

    ``reset`` first empties every business layer (TRUNCATE … RESTART IDENTITY CASCADE, so
    ids start at 1 again; districts and townships stay). Otherwise the layers must be empty:
    with ``if_empty`` a non-empty database is left alone (``{"skipped": true, ...}``),
    without it the load refuses (DemoError) rather than mixing demo and real data.
    """
    if farmhouses < 0:
        raise DemoError("farmhouses must be >= 0")
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
        districts = load_districts(conn)
        source = f"etl.demo seed={seed} farmhouses={farmhouses}"
        s_sites, s_review, s_villages, s_farm, s_sewage, s_green = np.random.default_rng(seed).spawn(6)
        out: dict[str, Any] = {}
        out |= build_sites(conn, s_sites, districts, source)
        out |= seed_projects(conn)  # the project register of the standardized-site module
        out |= build_reviews(conn, s_review, districts, source)
        villages = make_villages(s_villages, districts)
        out |= build_farmhouses(conn, s_farm, districts, villages, farmhouses, source)
        out |= build_sewage(conn, s_sewage, districts, villages, source)
        out |= build_greenways(conn, s_green, districts, source)
    with engine.connect() as conn:  # fresh statistics for the planner and for layer extents
        for layer in registry.all():
            if layer.module != "base":
                conn.execute(sa.text(f"ANALYZE {layer.table}"))
        conn.commit()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
