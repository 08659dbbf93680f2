"""The interface reserved for the Hangzhou real-estate registration system (不动产登记系统, VT-13).

The registration system calls it with an API key (``X-API-Key: cjk_…`` or ``Authorization: Bearer cjk_…``) of an
account holding the role ``realestate_system`` (city-wide; permissions ``realestate.lookup`` and
``realestate.register``). The endpoints, their fields and answers are in the OpenAPI (``/docs``, tag
``realestate``):

- ``POST /api/villages/realestate/lookup``: find farmhouses by exactly one of: the house code (``code``: the city's
  农房编号 or the provincial house code), the owner's resident ID number (``owner_id_number``), or a location
  (``lon``/``lat`` in CGCS2000 ≈ WGS 84 degrees, ``radius_m`` 1–500, default 50: nearest first). At most 50 houses.
  Owner names and ID numbers are masked unless the account holds ``person.unmask`` (each unmasking is logged).
- ``GET /api/villages/realestate/farmhouses/{fid}``: one house, the same fields.
- ``PUT /api/villages/realestate/farmhouses/{fid}/registration``: the registration result — the real-estate unit
  number (不动产单元号, 28 characters, GB/T 37346: 6-digit county division code, 6-digit cadastral district and
  sub-district, 2-letter parcel feature code, 5-digit parcel number, ``F`` (a house) and the 8-digit unit number;
  the county code must be the house's district) and the registration date — stored on the house. The same unit
  number again is a no-op; a unit number already on another house is refused (409).

Every call is logged in the operation log (a lookup with its mode and the number of houses found).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.auth import Principal, principal
from api.deps import db_write
from api.errors import ApiError
from geo import audit, personal
from geo.bounds import ID_MAX, RECORD_CODE, RESIDENT_ID, Amount, Code, Day, Shape, Window
from geo.modules import log_labels, permissions
from layers.persons import UNMASK

LOOKUP = "realestate.lookup"
REGISTER = "realestate.register"
permissions({LOOKUP: "不动产登记系统查询农房", REGISTER: "不动产登记系统回传登记结果"}, group="智慧村镇")
log_labels(
    actions={"vil_realestate_lookup": "不动产登记系统查询农房", "vil_realestate_register": "回传不动产登记结果"},
)

router = APIRouter(prefix="/api/villages/realestate", tags=["realestate"])

MAX_FOUND = 50
UNIT_NO = Shape(
    "不动产单元号",
    "28 位：6 位县级行政区划代码、6 位地籍区和地籍子区代码、2 位宗地特征码（如 JC）、5 位宗地顺序号、"
    "房屋定着物特征码 F 和 8 位定着物单元编号",
    28,
    r"3301\d{2}\d{6}[GJZ][ABCDEFGHSWXY]\d{5}F\d{8}",
)
FarmhouseId = Annotated[int, Path(ge=1, le=ID_MAX, title="农房 ID")]


class RealEstateLookup(BaseModel):
    """Exactly one of: ``code``; ``owner_id_number``; ``lon`` and ``lat`` (with ``radius_m``)."""

    code: Code(RECORD_CODE) | None = Field(None, title="农房编号或省农房编码")
    owner_id_number: Code(RESIDENT_ID) | None = Field(None, title="户主身份证号")
    lon: Amount(121, 118) | None = Field(None, title="经度")
    lat: Amount(31, 29) | None = Field(None, title="纬度")
    radius_m: Amount(500, 1) = Field(50, title="查询半径(米)")


class RealEstateRegistration(BaseModel):
    unit_no: Code(UNIT_NO) = Field(title="不动产单元号")
    registered_on: Day(Window(years_ahead=0)) = Field(title="登簿日期")


class RealEstateHouse(BaseModel):
    id: int
    code: str
    provincial_code: str | None
    district: str | None
    township: str | None
    village: str | None
    address: str | None
    owner_name: str | None = Field(description="户主姓名（无 person.unmask 权限时脱敏）")
    owner_id_number: str | None = Field(description="户主身份证号（无 person.unmask 权限时脱敏）")
    floors: int | None
    structure: str | None
    built_year: int | None
    floor_area_m2: float | None
    status: str | None
    lon: float
    lat: float
    distance_m: float | None = Field(None, description="按位置查询时与查询点的距离（米）")
    realestate_unit_no: str | None
    realestate_registered_on: dt.date | None
    version: int


class RealEstateFound(BaseModel):
    mode: str = Field(description="code、owner_id_number 或 location")
    masked: bool
    farmhouses: list[RealEstateHouse]


class RealEstateRegistered(BaseModel):
    changed: bool
    farmhouse: RealEstateHouse


COLUMNS = """
    f.id, f.code, f.provincial_code, f.district, f.township, f.village, f.address, f.owner_name, f.owner_id_number,
    f.floors, f.structure, f.built_year, f.floor_area_m2, f.status, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat,
    f.realestate_unit_no, f.realestate_registered_on, f.version
"""
PERSONAL = {"owner_name": "name", "owner_id_number": "id_number"}


def _mode(q: RealEstateLookup) -> str:
    given = [m for m, on in (("code", q.code), ("owner_id_number", q.owner_id_number)) if on is not None]
    if q.lon is not None or q.lat is not None:
        if q.lon is None or q.lat is None:
            field = "lat" if q.lat is None else "lon"
            raise ApiError(422, "required", "按位置查询须同时给出经度和纬度。", field)
        given.append("location")
    if len(given) != 1:
        raise ApiError(
            422,
            "lookup_mode",
            "请只按一种方式查询：农房编号、户主身份证号或位置（经纬度）。",
            None,
            {"given": given},
        )
    return given[0]


def _find(conn: Connection, mode: str, q: RealEstateLookup) -> list[dict[str, Any]]:
    live = "f.deleted_at IS NULL"
    if mode == "code":
        sql = f"SELECT {COLUMNS}, NULL AS distance_m FROM farmhouses f WHERE {live} AND (f.code = :c OR f.provincial_code = :c)"
        params: dict[str, Any] = {"c": q.code}
    elif mode == "owner_id_number":
        sql = f"SELECT {COLUMNS}, NULL AS distance_m FROM farmhouses f WHERE {live} AND f.owner_id_number = :i"
        params = {"i": q.owner_id_number}
    else:
        # The index is on the Web Mercator geometry: its metres are 1/cos(lat) of true metres; the exact test follows.
        sql = f"""
            WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
            SELECT {COLUMNS}, ST_Distance(f.geom::geography, p.g::geography) AS distance_m
            FROM farmhouses f, p
            WHERE {live} AND ST_DWithin(f.geom_3857, ST_Transform(p.g, 3857), :r / cos(radians(:lat)))
              AND ST_DWithin(f.geom::geography, p.g::geography, :r)
        """
        params = {"lon": q.lon, "lat": q.lat, "r": q.radius_m}
    order = " ORDER BY distance_m, f.id" if mode == "location" else " ORDER BY f.id"
    rows = conn.execute(sa.text(sql + order + f" LIMIT {MAX_FOUND}"), params).mappings().all()
    return [dict(r) for r in rows]


def _shown(conn: Connection, who: Principal, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    if not who.can(UNMASK):
        return [personal.mask_row(r, PERSONAL) for r in rows], True
    for r in rows:
        if r["owner_name"] or r["owner_id_number"]:
            personal.reveal(conn, who.user, "farmhouses", r["id"], list(PERSONAL), user_id=who.user_id)
    return rows, False


@router.post("/lookup", response_model=RealEstateFound, summary="查询农房（按农房编号、户主身份证号或位置）")
def lookup(
    q: RealEstateLookup, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
):
    """Farmhouses by exactly one of house code, owner ID number or location (nearest first), at most 50."""
    who.require(LOOKUP, "查询农房（不动产登记接口）")
    mode = _mode(q)
    rows, masked = _shown(conn, who, _find(conn, mode, q))
    asked = {"code": q.code, "owner_id_number": personal.mask_id_number(q.owner_id_number)}.get(mode)
    audit.record(
        conn,
        who.user,
        "vil_realestate_lookup",
        "farmhouses",
        detail={"mode": mode, "asked": asked or [q.lon, q.lat, q.radius_m], "found": [r["id"] for r in rows]},
        user_id=who.user_id,
    )
    return {"mode": mode, "masked": masked, "farmhouses": rows}


def _one(conn: Connection, fid: int, lock: bool = False) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.text(
                f"SELECT {COLUMNS}, NULL AS distance_m FROM farmhouses f WHERE f.id = :i AND f.deleted_at IS NULL"
                + (" FOR UPDATE" if lock else "")
            ),
            {"i": fid},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", f"农房（ID {fid}）不存在或无权查看。", "fid")
    return dict(row)


@router.get("/farmhouses/{fid}", response_model=RealEstateHouse, summary="查看一处农房")
def get_farmhouse(
    fid: FarmhouseId, who: Principal = Depends(principal), conn: Connection = Depends(db_write, scope="function")
):
    who.require(LOOKUP, "查询农房（不动产登记接口）")
    rows, _ = _shown(conn, who, [_one(conn, fid)])
    return rows[0]


@router.put(
    "/farmhouses/{fid}/registration", response_model=RealEstateRegistered, summary="回传不动产登记结果（不动产单元号）"
)
def register(
    fid: FarmhouseId,
    body: RealEstateRegistration,
    who: Principal = Depends(principal),
    conn: Connection = Depends(db_write, scope="function"),
):
    """Store the unit number and registration date on the house; the same values again change nothing."""
    who.require(REGISTER, "回传不动产登记结果")
    house = _one(conn, fid, lock=True)
    county = conn.execute(
        sa.text("SELECT code FROM vil_counties WHERE district = :d"), {"d": house["district"]}
    ).scalar()
    if county != body.unit_no[:6]:
        raise ApiError(
            422,
            "unit_no_district",
            f"不动产单元号的区划代码 {body.unit_no[:6]} 与农房所在区县（{house['district']}，{county}）不符。",
            "unit_no",
        )
    if (house["realestate_unit_no"], house["realestate_registered_on"]) == (body.unit_no, body.registered_on):
        return {"changed": False, "farmhouse": _shown(conn, who, [house])[0][0]}
    other = conn.execute(
        sa.text("SELECT id, code FROM farmhouses WHERE realestate_unit_no = :u AND deleted_at IS NULL AND id <> :i"),
        {"u": body.unit_no, "i": fid},
    ).first()
    if other is not None:
        raise ApiError(
            409,
            "unit_no_taken",
            f"不动产单元号 {body.unit_no} 已登记在另一处农房（{other.code}）上。",
            "unit_no",
            {"farmhouse_id": other.id},
        )
    conn.execute(
        sa.text(
            "UPDATE farmhouses SET realestate_unit_no = :u, realestate_registered_on = :d, version = version + 1, "
            "updated_at = now(), updated_by = :who WHERE id = :i"
        ),
        {"u": body.unit_no, "d": body.registered_on, "who": who.user, "i": fid},
    )
    before = {k: house[k] for k in ("realestate_unit_no", "realestate_registered_on", "version")}
    after = {"realestate_unit_no": body.unit_no, "realestate_registered_on": body.registered_on}
    audit.record(
        conn,
        who.user,
        "vil_realestate_register",
        "farmhouses",
        fid,
        before,
        after | {"version": house["version"] + 1},
        user_id=who.user_id,
    )
    return {"changed": True, "farmhouse": _shown(conn, who, [_one(conn, fid)])[0][0]}
