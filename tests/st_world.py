"""A small standardized-site world for the ST tests: two projects with sites and fences in two districts, in the
project register, and helpers to register them and to make camera photos with EXIF."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import sqlalchemy as sa
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from layers.standard_sites.demo import uscc_for

PROJECTS = {
    "西湖区": {"code": "XH-2026-0001", "name": "西湖区文三路综合楼工程", "permit": "330106202601010101"},
    "余杭区": {"code": "YH-2026-0002", "name": "余杭区良渚安置房工程", "permit": "330110202602020201"},
}
NO_PERMIT = {"code": "XH-2026-0003", "name": "西湖区未取证项目"}


def centre(conn, district: str) -> tuple[float, float]:
    return tuple(
        conn.execute(
            sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE name = :n) s"),
            {"n": district},
        ).one()
    )


def build(engine) -> dict:
    """Sites, fences (±0.002° squares) and projects, written by the schema owner; returns what tests need."""
    out = {}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE sites, site_fences, projects, st_registrations, st_reports, st_photos, "
                "st_bonus_claims, st_evaluations, idempotency_keys, case_history, credit_events RESTART IDENTITY CASCADE"
            )
        )
        # The unit accounts an earlier registration of these projects made (another test module's world).
        codes = [p["code"] for p in PROJECTS.values()] + [NO_PERMIT["code"]]
        conn.execute(
            sa.text("DELETE FROM users WHERE username = ANY(:u)"),
            {"u": [f"{prefix}-{c}" for c in codes for prefix in ("sg", "jl")]},
        )
        for district, p in [*PROJECTS.items(), ("西湖区", {**NO_PERMIT, "permit": None})]:
            lon, lat = centre(conn, district)
            if p is NO_PERMIT or p.get("permit") is None:
                lon += 0.01
            sid = conn.execute(
                sa.text(
                    "INSERT INTO sites (geom, code, name, district, permit_no, construction_unit, supervision_unit, status) "
                    "VALUES (ST_SetSRID(ST_MakePoint(:x, :y), 4326), :c, :n, :d, :p, :cu, :su, '在建') RETURNING id"
                ),
                {
                    "x": lon,
                    "y": lat,
                    "c": p["code"],
                    "n": p["name"],
                    "d": district,
                    "p": p["permit"],
                    "cu": f"{district}建工集团",
                    "su": f"{district}监理公司",
                },
            ).scalar()
            conn.execute(
                sa.text(
                    "INSERT INTO site_fences (geom, site_id, name, district) VALUES (ST_Multi(ST_MakeEnvelope("
                    ":x - 0.002, :y - 0.002, :x + 0.002, :y + 0.002, 4326)), :s, :n, :d)"
                ),
                {"x": lon, "y": lat, "s": sid, "n": p["name"] + "围栏", "d": district},
            )
            conn.execute(  # the units are enterprises of the register (projects reference enterprises.uscc)
                sa.text(
                    "INSERT INTO enterprises (uscc, name, types) VALUES (:cus, :cu, '{construction}'), "
                    "(:sus, :su, '{supervision}'), (:bus, :b, '{real_estate}') ON CONFLICT (uscc) DO NOTHING"
                ),
                {
                    "cu": f"{district}建工集团",
                    "cus": uscc_for(f"{district}建工集团"),
                    "su": f"{district}监理公司",
                    "sus": uscc_for(f"{district}监理公司"),
                    "b": f"{district}城投",
                    "bus": uscc_for(f"{district}城投"),
                },
            )
            conn.execute(
                sa.text(
                    "INSERT INTO projects (code, name, site_id, district, construction_name, construction_uscc, "
                    "supervision_name, supervision_uscc, builder_name, builder_uscc, permit_no, start_date) VALUES "
                    "(:c, :n, :s, :d, :cu, :cus, :su, :sus, :b, :bus, :p, '2026-01-01')"
                ),
                {
                    "c": p["code"],
                    "n": p["name"],
                    "s": sid,
                    "d": district,
                    "cu": f"{district}建工集团",
                    "cus": uscc_for(f"{district}建工集团"),
                    "su": f"{district}监理公司",
                    "sus": uscc_for(f"{district}监理公司"),
                    "b": f"{district}城投",
                    "bus": uscc_for(f"{district}城投"),
                    "p": p["permit"],
                },
            )
            out[p["code"]] = {
                "site_id": sid,
                "lon": lon,
                "lat": lat,
                "district": district,
                "uscc": uscc_for(f"{district}建工集团"),
            }
    return out


def registration(code: str, info: dict, permit: str, phone_tail: str = "01") -> dict:
    return {
        "project_code": code,
        "permit_no": permit,
        "construction_uscc": info["uscc"],
        "construction_contact": {"name": "施工联系人", "phone": f"139110000{phone_tail}"},
        "supervision_contact": {"name": "监理联系人", "phone": f"139220000{phone_tail}"},
    }


def jpeg(
    lon: float | None = None, lat: float | None = None, taken: datetime | None = None, colour=(90, 120, 160)
) -> bytes:
    """A camera-like JPEG with EXIF DateTimeOriginal (+ offset) and GPS (when given)."""
    img = Image.new("RGB", (640, 480), colour)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    if taken is not None:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        ifd[ExifTags.Base.DateTimeOriginal] = taken.astimezone(UTC).strftime("%Y:%m:%d %H:%M:%S")
        ifd[ExifTags.Base.OffsetTimeOriginal] = "+00:00"
    if lon is not None and lat is not None:

        def dms(v: float):
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60 * 10000)
            return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 10000))

        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps[ExifTags.GPS.GPSLatitude] = dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E"
        gps[ExifTags.GPS.GPSLongitude] = dms(lon)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def initial_password(engine, username: str) -> str:
    """The initial password the registration texted to the unit (read from the SMS outbox)."""
    import re

    with engine.connect() as conn:
        body = conn.execute(
            sa.text("SELECT body FROM sms_outbox WHERE body LIKE :u ORDER BY id DESC LIMIT 1"), {"u": f"%{username}%"}
        ).scalar()
    return re.search(r"初始密码：(\w+)", body).group(1)


def register_both(client, engine, info: dict, tails: tuple[str, str] = ("01", "02")) -> dict:
    """Register both projects as their construction units would, and sign every unit account in with its texted
    password; returns {(project code, role): bearer headers}."""
    accounts = {}
    for (_district, p), tail in zip(PROJECTS.items(), tails):
        r = client.post("/api/st/registrations", json=registration(p["code"], info[p["code"]], p["permit"], tail))
        assert r.status_code == 201, r.text
        for acc in r.json()["accounts"]:
            r = client.post(
                "/api/auth/token",
                json={"username": acc["username"], "password": initial_password(engine, acc["username"])},
            )
            assert r.status_code == 200, r.text
            accounts[(p["code"], acc["role"])] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return accounts


def forget_demo(engine) -> None:
    """Remove what a demo load left, so that the ST test modules after it start from their own worlds: the business
    layers (and by cascade every ST record on a site), the operation log and case history (whose ids the next
    worlds reuse), the experts, rounds, draws, notices and credit events, and the demo's unit and expert accounts."""
    from tests.conftest import business_tables

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"TRUNCATE {', '.join(business_tables())}, audit_log, case_history, st_reviews, st_assignments, "
                "st_draws, st_rounds, st_experts, st_notices, credit_events RESTART IDENTITY CASCADE"
            )
        )
        conn.execute(sa.text("DELETE FROM users WHERE phone LIKE '1990571____' OR phone LIKE '1980571____'"))
        # The drawing review's demo agencies (no layer's: the TRUNCATE leaves them) with their scopes (cascade) and
        # the ratio tables that held only them, so that the lottery's tests start from their own agencies.
        conn.execute(
            sa.text("DELETE FROM dr_ratios WHERE agency_id IN (SELECT id FROM dr_agencies WHERE created_by = 'demo')")
        )
        for table in ("dr_ratio_history", "dr_ratio_tables"):
            conn.execute(
                sa.text(
                    f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM dr_ratios r WHERE r.jurisdiction = t.jurisdiction)"
                )
            )
        conn.execute(sa.text("DELETE FROM dr_agencies WHERE created_by = 'demo'"))
