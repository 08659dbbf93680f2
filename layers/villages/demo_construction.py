"""Demo data of the construction dynamics (VT-02): 5,000 farmhouses under construction (a tenth of the houses with
a smaller or larger demo), about 15 % still under approval (审批中, no approval result yet), the others approved (在建)
with their approval number and day and the history of their post-approval inspections.

Each approved house passed its stages in order (开工放样 → 基槽验线 → 主体结构 → 竣工验收), each some 50–140 % of the
stage's ``due_days`` after the previous one (so some inspections are late); about 8 % of the inspections first
failed (不合格) and passed a few days later; about one house in ten stalled at some stage and is now overdue.
``farmhouses.stage`` is the last stage passed. Houses are added to the construction set, when the farmhouse demo has
too few, from stock houses graded A (not dangerous, not of a family in difficulty), which then lose their appraisal
and year as the farmhouse demo's new houses have none.

Besides them, some 12 % of the houses that went through the flow (``COMPLETED_SHARE``: about 680 beside the 5,000)
finished it: approved long enough ago, they passed every stage up to and including 竣工验收 and are 已竣工, as the
workflow leaves a house (``inspections.py``): the last stage as ``stage``, ``built_year`` the year of the final
acceptance. They are taken from the stock houses graded A and keep that grade (a standing house is appraised; a
newly finished one is safe). Dates count back from the demo's reference day. Written with two set-wise statements; the latest 300
inspections get a small site photo each (a JPEG with EXIF time and position, stored like an uploaded one).
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta

import numpy as np
import sqlalchemy as sa
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from etl import names
from etl.demo import REF_DATE, World
from geo import audit, files
from geo.bounds import BEIJING
from geo.modules import seeder

TARGET = 5_000  # houses under construction in the default demo (50,000 farmhouses)
UNDER_APPROVAL = 0.15
FAIL_SHARE = 0.08
STALL_SHARE = 0.10
COMPLETED_SHARE = 0.12  # of the houses through the flow: finished, 竣工验收 passed (beside those under construction)
PHOTOS = 300  # the latest inspections get a site photo each (files are written: a few, to keep the demo quick)


@seeder(order=31)
def seed_construction(conn, world: World) -> dict:
    return build_construction(conn, world.rng("construction"), min(TARGET, max(0, world.farmhouses // 10)))


def build_construction(conn, rng: np.random.Generator, target: int) -> dict:
    ref = date.fromisoformat(str(REF_DATE))
    # Houses with a stage or an inspection already (entered before the demo ran) keep their history.
    ids = (
        conn.execute(
            sa.text(
                "SELECT id FROM farmhouses f WHERE deleted_at IS NULL AND status IN ('审批中', '在建') "
                "AND stage IS NULL AND NOT EXISTS (SELECT 1 FROM vil_inspections i WHERE i.farmhouse_id = f.id) "
                "ORDER BY id"
            )
        )
        .scalars()
        .all()
    )
    under = conn.execute(
        sa.text("SELECT count(*) FROM farmhouses WHERE deleted_at IS NULL AND status IN ('审批中', '在建')")
    ).scalar_one()
    if under < target:
        extra = (
            conn.execute(
                sa.text(
                    "UPDATE farmhouses SET status = '在建', danger_grade = NULL, governance = NULL, built_year = NULL "
                    "WHERE id IN (SELECT id FROM farmhouses WHERE deleted_at IS NULL AND status = '存量' "
                    "AND danger_grade = 'A' AND NOT difficult_family ORDER BY md5(id::text) LIMIT :n) RETURNING id"
                ),
                {"n": target - under},
            )
            .scalars()
            .all()
        )
        ids = sorted([*ids, *extra])
        under += len(extra)
    if not ids:
        return {"vil_inspections": 0, "farmhouses_under_construction": under, "farmhouses_completed": 0}
    # The finished ones: stock houses graded A that went through the whole flow.
    finished = (
        conn.execute(
            sa.text(
                "SELECT id FROM farmhouses f WHERE deleted_at IS NULL AND status = '存量' AND danger_grade = 'A' "
                "AND NOT difficult_family AND NOT EXISTS (SELECT 1 FROM vil_inspections i WHERE i.farmhouse_id = f.id) "
                "ORDER BY md5(id::text) LIMIT :n"
            ),
            {"n": round(target * COMPLETED_SHARE / (1 - COMPLETED_SHARE))},
        )
        .scalars()
        .all()
    )
    n = len(ids) + len(finished)
    house = np.asarray([*ids, *finished], dtype=np.int64)
    to_finish = np.arange(n) >= len(ids)
    approved = (rng.random(n) >= UNDER_APPROVAL) | to_finish
    stage_rows = conn.execute(sa.text("SELECT code, due_days FROM vil_stages WHERE active ORDER BY seq")).all()
    codes = [r[0] for r in stage_rows]
    due = np.asarray([r[1] for r in stage_rows], dtype=int)
    # Approved 5 to 10 months before the reference day: the last stage is not reached by most. The finished ones
    # long enough ago for every stage at its slowest (140 % of its days and a failed first try each).
    approved_ago = rng.integers(5, int(due[:-1].sum() * 1.1) + 1, n)
    slowest = int(due.sum() * 1.4) + 7 * len(codes) + 10
    approved_ago = np.where(to_finish, rng.integers(slowest, slowest + 365, n), approved_ago)
    approved_on = [ref - timedelta(days=int(d)) for d in approved_ago]
    stall_at = np.where(rng.random(n) < STALL_SHARE, rng.integers(0, len(codes) - 1, n), len(codes))
    stall_at = np.where(to_finish, len(codes), stall_at)
    inspector_pool = names.person_names(rng, 200)
    rows: dict[str, list] = {k: [] for k in ("house", "stage", "day", "result", "due", "late", "inspector", "dx", "dy")}
    passed: list[str | None] = [None] * n
    finished_on: list[date | None] = [None] * n
    for k in np.flatnonzero(approved):
        prev = approved_on[k]
        for s, code in enumerate(codes if to_finish[k] else codes[:-1]):  # the others stop before 竣工验收
            if s >= stall_at[k]:
                break
            due_on = prev + timedelta(days=int(due[s]))
            day = prev + timedelta(days=max(1, round(due[s] * rng.uniform(0.5, 1.4))))
            if day > ref:
                break
            if rng.random() < FAIL_SHARE and day + timedelta(days=7) <= ref:
                _add(rows, rng, house[k], code, day, "fail", due_on, inspector_pool)
                day = day + timedelta(days=int(rng.integers(3, 8)))
            _add(rows, rng, house[k], code, day, "pass", due_on, inspector_pool)
            passed[k] = code
            prev = day
        if passed[k] == codes[-1]:
            finished_on[k] = prev
    conn.execute(
        sa.text(
            "UPDATE farmhouses f SET status = CASE WHEN u.finished_on IS NOT NULL THEN '已竣工' "
            "  WHEN u.approved THEN '在建' ELSE '审批中' END, "
            "built_year = CASE WHEN u.finished_on IS NOT NULL THEN extract(year FROM u.finished_on)::int "
            "  ELSE f.built_year END, "
            "approval_no = CASE WHEN u.approved THEN 'NJ' || left(f.code, 8) || '-' || to_char(u.on_day, 'YYYY') "
            "  || '-' || lpad(u.rank::text, 5, '0') END, "
            "approved_on = CASE WHEN u.approved THEN u.on_day END, stage = u.stage "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:approved AS boolean[]), CAST(:days AS date[]), "
            "CAST(:stages AS text[]), CAST(:ranks AS integer[]), CAST(:finished AS date[])) "
            "AS u(id, approved, on_day, stage, rank, finished_on) "
            "WHERE f.id = u.id"
        ),
        {
            "ids": house.tolist(),
            "approved": approved.tolist(),
            "days": approved_on,
            "stages": passed,
            "ranks": list(range(1, n + 1)),
            "finished": finished_on,
        },
    )  # a string: one set-wise update from arrays
    conn.execute(
        sa.text(
            "INSERT INTO vil_inspections (farmhouse_id, stage, inspected_on, inspector, result, geom, accuracy_m, "
            "distance_m, district, due_on, late, source, created_by, updated_by, created_at) "
            "SELECT u.house, u.stage, u.day, u.inspector, u.result, "
            "ST_Translate(f.geom, u.dx, u.dy), 8, "
            "ST_Distance(ST_Transform(f.geom, 4549), ST_Transform(ST_Translate(f.geom, u.dx, u.dy), 4549)), "
            "f.district, u.due, u.late, 'demo', 'demo', 'demo', u.day + time '17:00' "
            "FROM unnest(CAST(:house AS bigint[]), CAST(:stage AS text[]), CAST(:day AS date[]), "
            "CAST(:result AS text[]), CAST(:due AS date[]), CAST(:late AS boolean[]), CAST(:inspector AS text[]), "
            "CAST(:dx AS float8[]), CAST(:dy AS float8[])) "
            "AS u(house, stage, day, result, due, late, inspector, dx, dy) JOIN farmhouses f ON f.id = u.house"
        ),
        rows,
    )  # a string: one set-wise insert from arrays
    photos = _photos(conn, rng)
    completed = sum(d is not None for d in finished_on)
    audit.record(
        conn, "demo", "demo_load", "vil_inspections", None, None,
        {"houses": n, "approved": int(approved.sum()), "completed": completed, "inspections": len(rows["house"]),
         "photos": photos},
    )  # fmt: skip
    return {"vil_inspections": len(rows["house"]), "vil_inspection_photos": photos,
            "farmhouses_under_construction": under, "farmhouses_completed": completed}  # fmt: skip


def _photos(conn, rng: np.random.Generator) -> int:
    """A site photo (a small camera-like JPEG with EXIF time and GPS) for each of the latest PHOTOS inspections."""
    latest = (
        conn.execute(
            sa.text(
                "SELECT id, district, inspected_on, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM vil_inspections "
                "WHERE source = 'demo' ORDER BY inspected_on DESC, id DESC LIMIT :n"
            ),
            {"n": PHOTOS},
        )
        .mappings()
        .all()
    )
    values = []
    for r in latest:
        taken = datetime.combine(r["inspected_on"], time(10, int(rng.integers(0, 60))), BEIJING)
        colour = tuple(int(c) for c in rng.integers(60, 200, 3))
        stored = files.store(jpeg(r["lon"], r["lat"], taken, colour), f"inspection-{r['id']}.jpg", "photo")
        values.append({
            "inspection_id": r["id"], "district": r["district"], "sha256": stored.sha256,
            "content_type": stored.content_type, "size_bytes": stored.size, "width": stored.width,
            "height": stored.height, "lon": r["lon"], "lat": r["lat"], "taken_at": taken,
            "flags": json.dumps(files.exif_disagreement(stored.exif, r["lon"], r["lat"], taken), ensure_ascii=False),
        })  # fmt: skip
    if values:
        conn.execute(
            sa.text(
                "INSERT INTO vil_inspection_photos (inspection_id, district, sha256, content_type, size_bytes, width, "
                "height, lon, lat, taken_at, flags, created_by, updated_by) VALUES (:inspection_id, :district, "
                ":sha256, :content_type, :size_bytes, :width, :height, :lon, :lat, :taken_at, CAST(:flags AS jsonb), "
                "'demo', 'demo') ON CONFLICT DO NOTHING"
            ),
            values,
        )
    return len(values)


def jpeg(lon: float, lat: float, taken: datetime, colour: tuple[int, ...]) -> bytes:
    """A small camera-like JPEG: EXIF make, time taken (with its offset) and GPS position."""
    img = Image.new("RGB", (96, 72), colour)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[ExifTags.Base.DateTimeOriginal] = taken.strftime("%Y:%m:%d %H:%M:%S")
    ifd[ExifTags.Base.OffsetTimeOriginal] = "+08:00"

    def dms(v: float) -> tuple:
        d = int(v)
        m = int((v - d) * 60)
        return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(((v - d) * 60 - m) * 600000), 10000))

    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = dms(lon)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=70)
    return buf.getvalue()


def _add(rows: dict, rng, house: int, code: str, day: date, result: str, due_on: date, pool) -> None:
    rows["house"].append(int(house))
    rows["stage"].append(code)
    rows["day"].append(day)
    rows["result"].append(result)
    rows["due"].append(due_on)
    rows["late"].append(day > due_on)
    rows["inspector"].append(str(pool[rng.integers(0, len(pool))]))
    rows["dx"].append(float(rng.normal(0, 0.0002)))  # some 20 m beside the house
    rows["dy"].append(float(rng.normal(0, 0.0002)))
