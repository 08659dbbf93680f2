"""Demo data of the dangerous houses (VT-06…10): 20,000 appraised dangerous houses (at the world's scale), 2,000 of
them of families in difficulty, with their governance stages and the counties' reports; and the demo account of
建德市 (a county without a system of its own, which enters its houses in the city system).

- Every farmhouse the farmhouse seeder made dangerous (grade B/C/D) is an archive row linked to it, its method and
  stage read from the farmhouse's ``governance`` (未治理: appraised only; 已治理: finished; a method: under way).
  The other rows are appraised houses that are not in the farmhouse layer (outbuildings, old houses beside a new
  one): each placed 20–120 m from a random farmhouse of a village, in its district, township and village.
- Governance years 2023–2026 (more recent, more houses): houses of past years mostly finished, this year's spread
  over the stages. Each stage after 已鉴定 has its county report, dated in order up to the demo's reference date.
- Families in difficulty: the linked farmhouses marked ``difficult_family`` and as many unlinked rows as make 2,000
  (scaled), each with a category (低保户 most often).
- Afterwards the linked farmhouses' ``danger_grade``, ``governance`` and ``difficult_family`` are set from their
  archive rows in one statement, so the two never disagree.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection
from stdnum.cn import ric

from etl import names
from etl.demo import REF_DATE, World, pick
from geo.modules import seeder

HOUSES, DIFFICULT = 20_000, 2_000
YEARS, YEAR_P = (2023, 2024, 2025, 2026), (15, 20, 30, 35)
STAGES = ("appraised", "planned", "started", "completed", "accepted")
METHOD_OF = {"维修加固": "repair", "拆除重建": "rebuild", "拆除": "demolish", "搬迁": "relocate"}
METHODS = {
    "B": (("repair", "rebuild", "replace"), (80, 15, 5)),
    "C": (("repair", "rebuild", "replace", "relocate"), (50, 35, 5, 10)),
    "D": (("rebuild", "demolish", "relocate", "replace"), (45, 25, 20, 10)),
}
FAMILIES, FAMILY_P = ("dibao", "edge", "tekun", "disabled"), (40, 25, 15, 20)
# A birth place valid for the owners' birth years (1935–1985): the county codes of the time.
BIRTH_REGIONS = {"建德市": "330126", "淳安县": "330127", "桐庐县": "330122", "富阳区": "330123", "临安区": "330124"}
JIANDE_ACCOUNT = ("jiande", "建德市住建局", "建德市")
REF = dt.date.fromisoformat(str(REF_DATE))

COLUMNS = (
    "code", "farmhouse_id", "district", "township", "village", "address", "geom", "owner_name", "owner_id_number",
    "owner_phone", "grade", "appraised_on", "appraisal_agency", "structure", "floors", "built_year", "method", "stage",
    "stage_on", "year", "family", "source", "created_by", "updated_by",
)  # fmt: skip


def _text(v) -> str:
    if v is None:
        return "\\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def id_numbers(rng: np.random.Generator, districts: list[str]) -> list[str]:
    n = len(districts)
    born = np.datetime64("1935-01-01") + rng.integers(0, 365 * 50, n)
    seq = rng.integers(0, 1000, n)
    out, seen = [], set()
    valid: dict[tuple[str, str], bool] = {}  # (region, birth year): stdnum knows the region then
    for i in range(n):
        stamp = str(born[i]).replace("-", "")
        for region in (BIRTH_REGIONS.get(districts[i]), "330122", "330127"):
            if region is None:
                continue
            key = (region, stamp[:4])
            if key not in valid:
                probe = f"{region}{stamp[:4]}0601001"
                valid[key] = ric.is_valid(probe + ric.calc_check_digit(probe + "0"))
            if not valid[key]:
                continue
            k = int(seq[i])
            body = f"{region}{stamp}{k:03d}"
            while body in seen:
                k = (k + 1) % 1000
                body = f"{region}{stamp}{k:03d}"
            seen.add(body)
            out.append(body + ric.calc_check_digit(body + "0"))
            break
    return out


def ensure_county_account(conn: Connection) -> list[str]:
    """The demo's 建德市 district account (the other demo accounts are ``etl/accounts_cli.py``'s)."""
    from api.accounts.users import create_org, create_user
    from etl.accounts_cli import demo_org, demo_password

    username, title, district = JIANDE_ACCOUNT
    if conn.execute(sa.text("SELECT 1 FROM users WHERE username = :u"), {"u": username}).first():
        return []
    org_name, kind = demo_org(district)
    org = conn.execute(
        sa.text("SELECT id FROM organisations WHERE name = :n AND kind = :k ORDER BY id LIMIT 1"),
        {"n": org_name, "k": kind},
    ).scalar() or create_org(conn, org_name, kind, district=district, actor="demo")
    create_user(
        conn, username, title, ["district_staff"], password=demo_password(), district=district, org_id=org,
        actor="demo", check_password=False,
    )  # fmt: skip
    return [username]


@seeder(order=34)
def seed_dangerous(conn: Connection, world: World) -> dict:
    accounts = ensure_county_account(conn)
    rng = world.rng("dangerous")
    target, difficult_target = world.count(HOUSES), world.count(DIFFICULT)
    linked = conn.execute(
        sa.text("""
            SELECT id, district, township, village, address, owner_name, danger_grade AS grade, structure, floors,
                   built_year, governance, difficult_family, ST_AsEWKT(geom) AS geom FROM farmhouses
             WHERE danger_grade IN ('B', 'C', 'D') AND deleted_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM vil_dangerous d WHERE d.farmhouse_id = farmhouses.id)
             ORDER BY id
        """)
    ).mappings().all()  # fmt: skip
    n_link = len(linked)
    n_free = max(0, target - n_link)
    hosts = np.array(
        conn.execute(sa.text("SELECT id FROM farmhouses WHERE deleted_at IS NULL ORDER BY id")).scalars().all()
    )
    if n_link + n_free == 0 or len(hosts) == 0:
        return {"vil_dangerous": 0, "vil_danger_reports": 0, "demo_accounts": len(accounts)}
    host = rng.choice(hosts, n_free) if n_free else np.array([], dtype=int)
    host_rows = {
        r["id"]: r
        for r in conn.execute(
            sa.text(
                "SELECT id, district, township, village, ST_X(geom) AS x, ST_Y(geom) AS y FROM farmhouses "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": sorted({int(h) for h in host})},
        ).mappings()
    }
    n = n_link + n_free
    grade_free = pick(rng, ("B", "C", "D"), (55, 33, 12), n_free)
    structure_free = pick(rng, ("砖木", "土木", "砖混", "石结构", "木结构"), (35, 30, 20, 8, 7), n_free)
    year = pick(rng, YEARS, YEAR_P, n).astype(int)
    # Stage index: past years mostly finished, this year spread.
    past = pick(rng, (1, 2, 3, 4), (3, 7, 40, 50), n).astype(int)
    now = pick(rng, (0, 1, 2, 3, 4), (15, 20, 30, 25, 10), n).astype(int)
    stage_i = np.where(year < REF.year, past, now)
    methods = {g: pick(rng, *METHODS[g], n) for g in METHODS}
    appraised = [REF - dt.timedelta(days=int(x)) for x in rng.integers(0, 300, n)]
    gaps = rng.integers(20, 120, (n, 4))
    owners = names.person_names(rng, n_free)
    phones = rng.integers(0, 10**9, n)
    prefixes = rng.choice([3, 5, 7, 8, 9], n)
    jitter = rng.uniform(20, 120, n_free), rng.uniform(0, 2 * np.pi, n_free)
    rows: list[dict] = []
    for i, f in enumerate(linked):
        gov = f["governance"]
        if gov == "已治理":
            stage = int(stage_i[i]) if stage_i[i] >= 3 else 3
        elif gov in (None, "未治理"):
            stage = 0
        else:
            stage = min(max(int(stage_i[i]), 1), 2)
        method = METHOD_OF.get(gov or "", str(methods[f["grade"]][i]))
        rows.append(
            {**{k: f[k] for k in ("district", "township", "village", "address", "owner_name", "grade", "structure",
                                 "floors", "built_year")},
             "farmhouse_id": f["id"], "geom": f["geom"], "method": method if stage > 0 else None, "stage_n": stage,
             "difficult": bool(f["difficult_family"])}
        )  # fmt: skip
    for j in range(n_free):
        h = host_rows[int(host[j])]
        dx = jitter[0][j] * np.cos(jitter[1][j]) / (111_320 * np.cos(np.radians(h["y"])))
        dy = jitter[0][j] * np.sin(jitter[1][j]) / 110_540
        g = str(grade_free[j])
        stage = int(stage_i[n_link + j])
        rows.append(
            {"district": h["district"], "township": h["township"], "village": h["village"],
             "address": f"{h['district']}{h['township']}{h['village']}{1 + j % 12}组{200 + j % 300}号",
             "owner_name": str(owners[j]), "grade": g, "structure": str(structure_free[j]),
             "floors": int(rng.integers(1, 3)), "built_year": int(rng.integers(1950, 1995)), "farmhouse_id": None,
             "geom": f"SRID=4326;POINT({h['x'] + dx:.7f} {h['y'] + dy:.7f})",
             "method": str(methods[g][n_link + j]) if stage > 0 else None, "stage_n": stage, "difficult": False}
        )  # fmt: skip
    # Families in difficulty: the linked ones, then unlinked rows up to the target.
    have = sum(r["difficult"] for r in rows)
    free_idx = np.arange(n_link, n)
    extra = rng.choice(free_idx, min(len(free_idx), max(0, difficult_target - have)), replace=False)
    for k in extra:
        rows[int(k)]["difficult"] = True
    family = pick(rng, FAMILIES, FAMILY_P, n)
    ids = id_numbers(rng, [r["district"] for r in rows])
    seqs: dict[str, int] = {}
    buf, reports = io.StringIO(), io.StringIO()
    for i, r in enumerate(rows):
        seqs[r["district"]] = seqs.get(r["district"], 0) + 1
        code = f"WF-{world_code(world, r['district'])}-{seqs[r['district']]:06d}"
        on = appraised[i] - dt.timedelta(days=365 * (REF.year - int(year[i])))
        dates = [on]
        for s in range(r["stage_n"]):
            dates.append(min(REF, dates[-1] + dt.timedelta(days=int(gaps[i][s]))))
        line = {
            "code": code, "farmhouse_id": r["farmhouse_id"], "district": r["district"], "township": r["township"],
            "village": r["village"], "address": r["address"], "geom": r["geom"], "owner_name": r["owner_name"],
            "owner_id_number": ids[i], "owner_phone": f"1{prefixes[i]}{phones[i]:09d}", "grade": r["grade"],
            "appraised_on": on, "appraisal_agency": f"{r['district']}房屋安全鉴定中心", "structure": r["structure"],
            "floors": r["floors"], "built_year": r["built_year"], "method": r["method"],
            "stage": STAGES[r["stage_n"]], "stage_on": dates[-1], "year": int(year[i]),
            "family": str(family[i]) if r["difficult"] else None, "source": "demo", "created_by": "demo",
            "updated_by": "demo",
        }  # fmt: skip
        buf.write("\t".join(_text(line[c]) for c in COLUMNS) + "\n")
        for s in range(1, r["stage_n"] + 1):
            reports.write(f"{code}\t{STAGES[s]}\t{r['method'] or ''}\t{dates[s].isoformat()}\n")
    cur = conn.connection.driver_connection.cursor()
    with cur.copy(f"COPY vil_dangerous ({', '.join(COLUMNS)}) FROM STDIN") as cp:
        cp.write(buf.getvalue())
    conn.execute(
        sa.text("CREATE TEMP TABLE demo_danger_reports (code text, stage text, method text, on_ date) ON COMMIT DROP")
    )
    with cur.copy("COPY demo_danger_reports (code, stage, method, on_) FROM STDIN") as cp:
        cp.write(reports.getvalue())
    n_reports = conn.execute(
        sa.text("""
            INSERT INTO vil_danger_reports (dangerous_id, district, stage, method, reported_on, created_by, updated_by)
            SELECT d.id, d.district, r.stage, nullif(r.method, ''), r.on_, 'demo', 'demo'
              FROM demo_danger_reports r JOIN vil_dangerous d ON d.code = r.code
        """)
    ).rowcount
    sync_farmhouses(conn)
    return {
        "vil_dangerous": n,
        "vil_dangerous_difficult": sum(r["difficult"] for r in rows),
        "vil_danger_reports": n_reports,
        "demo_accounts": len(accounts),
    }


def world_code(world: World, district: str) -> str:
    return next(d.code for d in world.districts if d.name == district)


def sync_farmhouses(conn: Connection) -> int:
    """The linked farmhouses' summary columns from their archive rows, in one statement (``dangerous.py`` keeps
    them so on every later write)."""
    return conn.execute(
        sa.text("""
            UPDATE farmhouses f
               SET danger_grade = d.grade, difficult_family = d.family IS NOT NULL,
                   governance = CASE WHEN s.done THEN '已治理'
                                     WHEN s.seq = (SELECT min(seq) FROM vil_danger_options WHERE kind = 'stage')
                                          OR d.method IS NULL THEN '未治理'
                                     ELSE m.name END
              FROM vil_dangerous d
              JOIN vil_danger_options s ON s.kind = 'stage' AND s.code = d.stage
              LEFT JOIN vil_danger_options m ON m.kind = 'method' AND m.code = d.method
             WHERE d.farmhouse_id = f.id
               AND (f.danger_grade, f.governance, f.difficult_family) IS DISTINCT FROM
                   (d.grade, CASE WHEN s.done THEN '已治理'
                                  WHEN s.seq = (SELECT min(seq) FROM vil_danger_options WHERE kind = 'stage')
                                       OR d.method IS NULL THEN '未治理'
                                  ELSE m.name END, d.family IS NOT NULL)
        """)
    ).rowcount
