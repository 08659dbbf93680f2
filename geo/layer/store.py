"""Reading and writing layer features: one place for the SQL every endpoint uses."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.geometry
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS

from geo import audit, errors
from geo import scope as scopes
from geo.generations import MISSING, Kept, as_token, database_of, token_of
from geo.layer import districting
from geo.layer.attributes import AttrError, coerce_column
from geo.layer.registry import SRID, TILE_SRID, Layer
from geo.migrations.layer_table import search_document
from geo.values import to_json

META_COLUMNS = ("created_at", "created_by", "updated_at", "updated_by")
SORTABLE_META = ("id", "created_at", "updated_at")


class NotFound(errors.NotFound):
    def __init__(self, fid: int) -> None:
        super().__init__("not_found", f"要素 {fid} 不存在或已删除。", None, {"id": fid})
        self.fid = fid


StaleVersion = errors.StaleVersion


@dataclass
class Query:
    """A feature selection: the same object drives lists, OGC items, exports and counts."""

    bbox: tuple[float, float, float, float] | None = None
    filters: dict[str, list[Any]] | None = None
    q: str | None = None
    ids: list[int] | None = None
    sort: list[str] | None = None
    limit: int | None = 100
    offset: int = 0
    after_id: int | None = None  # keyset cursor (id order)
    area: str | None = None  # WKT (WGS84) the features must intersect, inside ``bbox`` (a box drawn in another CRS)


def parse_filters(layer: Layer, raw: dict[str, str]) -> dict[str, list[Any]]:
    """``{"status": "在建,停工"}`` -> typed value lists; only filterable attributes are accepted."""
    out: dict[str, list[Any]] = {}
    for name, value in raw.items():
        try:
            attr = layer.attr(name)
        except KeyError:
            raise AttrError("unknown_field", f"图层「{layer.title}」没有字段「{name}」。", name, name)
        if not attr.filterable:
            raise AttrError("not_filterable", f"字段「{attr.label}」不能用于筛选。", name, name)
        parts = [p for p in str(value).split(",")]
        values, errors = coerce_column(attr, parts)
        if errors:
            raise next(iter(errors.values()))
        out[name] = values
    return out


def parse_sort(layer: Layer, raw: str | None) -> list[str]:
    if not raw:
        return []
    keys = []
    for part in raw.split(","):
        name = part.strip().lstrip("+-")
        if name not in layer.attr_names and name not in SORTABLE_META:
            raise AttrError("invalid_sort", f"不能按「{name}」排序。", "sort", raw)
        keys.append(part.strip())
    return keys


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        pad = "=" * (-len(cursor) % 4)
        return int(json.loads(base64.urlsafe_b64decode(cursor + pad))["id"])
    except Exception:
        raise AttrError("invalid_cursor", "分页游标无效。", "cursor", cursor)


def where_clause(layer: Layer, query: Query, include_deleted: bool = False) -> sa.ColumnElement:
    t = layer.sa_table
    conds: list[sa.ColumnElement] = []
    if not include_deleted:
        conds.append(t.c.deleted_at.is_(None))
    if query.bbox:
        env = sa.func.ST_MakeEnvelope(*query.bbox, SRID)
        # The index is on geom_3857: filter there with the envelope transformed once, then refine.
        conds.append(t.c.geom_3857.op("&&")(sa.func.ST_Transform(env, TILE_SRID)))
        conds.append(sa.func.ST_Intersects(t.c.geom, env))
    if query.area:
        conds.append(sa.func.ST_Intersects(t.c.geom, sa.func.ST_GeomFromText(query.area, SRID)))
    for name, values in (query.filters or {}).items():
        col = t.c[name]
        conds.append(col.is_(None) if values == [None] else col.in_(values))
    if query.q:
        doc = sa.literal_column(f"({search_document([a.name for a in layer.searchable])})", sa.Text)
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(doc.ilike(pattern))
    if query.ids is not None:
        conds.append(t.c.id.in_(query.ids))
    if query.after_id is not None:
        conds.append(t.c.id > query.after_id)
    return sa.and_(sa.true(), *conds)


def search_clause(layer: Layer, q: str, limit: int, starts: list[str] | None = None) -> sa.ColumnElement:
    """Live features whose searchable fields contain ``q`` (case-insensitive), at most ``limit`` of them, found through
    the trigram and bigram indexes even under row-level security.

    ``chengjian_search_ids`` (migration 0011) finds the candidates as the tables' owner with the table's read policy
    applied explicitly; the rows are then selected by id on the caller's connection, so row-level security still
    decides what the caller sees. ``where_clause``'s ``q`` is the same match without the function (a full scan
    under row-level security). With ``starts`` (column names): the features where one of them starts with ``q``
    instead (case-sensitive, by their btree indexes)."""
    t = layer.sa_table
    ids = sa.func.chengjian_search_ids(
        sa.cast(t.name, REGCLASS),
        sa.bindparam(None, [a.name for a in layer.searchable], type_=ARRAY(sa.Text)),
        q,
        limit,
        sa.bindparam(None, list(starts or []), type_=ARRAY(sa.Text)),
    )
    return sa.and_(t.c.deleted_at.is_(None), t.c.id.in_(sa.select(ids.column_valued())))


def _order(layer: Layer, sort: list[str] | None) -> list[sa.ColumnElement]:
    t = layer.sa_table
    out = []
    for key in sort or []:
        col = t.c[key.lstrip("+-")]
        out.append(col.desc().nulls_last() if key.startswith("-") else col.asc().nulls_last())
    return out + [t.c.id.asc()]


def _columns(layer: Layer) -> list[sa.ColumnElement]:
    t = layer.sa_table
    return [
        t.c.id,
        t.c.version,
        *(t.c[a] for a in layer.attr_names),
        *(t.c[m] for m in META_COLUMNS),
        sa.func.ST_AsGeoJSON(t.c.geom, 7).label("geojson"),
    ]


def row_to_feature(layer: Layer, row: Any) -> dict:
    m = row._mapping
    return {
        "type": "Feature",
        "id": m["id"],
        "geometry": json.loads(m["geojson"]),
        "properties": {a: to_json(m[a]) for a in layer.attr_names},
        "meta": {"version": m["version"], **{k: to_json(m[k]) for k in META_COLUMNS}},
    }


def select_features(layer: Layer, query: Query) -> sa.Select:
    stmt = sa.select(*_columns(layer)).where(where_clause(layer, query)).order_by(*_order(layer, query.sort))
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    if query.offset:
        stmt = stmt.offset(query.offset)
    return stmt


def list_features(conn: Connection, layer: Layer, query: Query) -> list[dict]:
    return [row_to_feature(layer, r) for r in conn.execute(select_features(layer, query))]


def count(conn: Connection, layer: Layer, query: Query) -> int:
    q = Query(bbox=query.bbox, filters=query.filters, q=query.q, ids=query.ids, area=query.area)
    return conn.execute(
        sa.select(sa.func.count()).select_from(layer.sa_table).where(where_clause(layer, q))
    ).scalar_one()


# Exact extents, kept per (database, layer, role, stated scope, layer token): see ``geo.generations``.
_extents = Kept(maxsize=2048)


def extent(conn: Connection, layer: Layer) -> tuple[float, float, float, float] | None:
    """The bounding box of the live rows the connection may see (row-level security applies), exact.

    ``ST_Extent`` over the rows, computed once per layer generation and stated scope and cached in the process:
    a request after an edit recomputes it (one pass over the rows the scope sees), every other request costs
    one round trip. Never planner statistics (``ST_EstimatedExtent`` samples, so it leaves out real features,
    and it ignores row-level security)."""
    t = layer.sa_table
    stamp, role = conn.execute(sa.select(token_of(layer.id), sa.func.current_user())).one()
    base = (database_of(conn), layer.id, role, scopes.current_key(conn))
    if stamp is not None:
        hit = _extents.get((*base, as_token(stamp)))
        if hit is not MISSING:
            return hit
    # The box and the generation it belongs to are read in one statement (one snapshot).
    stamp, box = conn.execute(
        sa.select(token_of(layer.id), sa.cast(sa.func.ST_Extent(t.c.geom), sa.Text)).where(t.c.deleted_at.is_(None))
    ).one()
    result: tuple[float, float, float, float] | None = None
    if box:
        nums = box[box.index("(") + 1 : -1].replace(",", " ").split()
        result = tuple(float(n) for n in nums)  # type: ignore[assignment]
    if stamp is not None:
        _extents.put((*base, as_token(stamp)), result)
    return result


def get_feature(conn: Connection, layer: Layer, fid: int, for_update: bool = False) -> dict:
    t = layer.sa_table
    stmt = sa.select(*_columns(layer)).where(t.c.id == fid, t.c.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(fid)
    return row_to_feature(layer, row)


def _geom_param(geom) -> sa.ColumnElement:
    return sa.func.ST_GeomFromWKB(sa.literal(shapely.to_wkb(geom), sa.LargeBinary), SRID)


def _fills_district(layer: Layer) -> bool:
    return "district" in layer.attr_names and layer.id != "districts"


def _out_of_scope(e: sa.exc.ProgrammingError, district: Any, field_name: str | None) -> errors.Forbidden | None:
    """Row-level security refusing the written row: the record would fall outside the principal's data scope, by
    ``field_name`` (the district the client gave, or the geometry the district follows from)."""
    if getattr(e.orig, "sqlstate", None) != "42501" or "row-level security" not in str(e.orig):
        return None
    where = f"该记录属于「{district}」，" if district else ""
    return errors.Forbidden(
        "out_of_scope",
        f"超出您的数据权限范围：{where}您只能录入和修改本辖区（或本单位参与项目）的数据。",
        field_name,
        {"district": district, "table": getattr(getattr(e.orig, "diag", None), "table_name", None)},
    )


def create(conn: Connection, layer: Layer, geom, props: dict[str, Any], actor: str, client: str | None = None) -> dict:
    t = layer.sa_table
    values: dict[str, Any] = {
        **props,
        "geom": _geom_param(geom),
        "version": 1,
        "created_by": actor,
        "updated_by": actor,
    }
    given = props.get("district")
    if _fills_district(layer):  # the district follows from the geometry (a given one must fit it)
        values["district"] = districting.resolve_one(conn, geom, given)
    try:
        fid = conn.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one()
    except sa.exc.ProgrammingError as e:
        raise _out_of_scope(e, values.get("district"), "district" if given else "geometry") or e
    feature = get_feature(conn, layer, fid)
    audit.record(conn, actor, "create", layer.id, fid, None, feature, client)
    return feature


def update(
    conn: Connection,
    layer: Layer,
    fid: int,
    version: int,
    actor: str,
    geom=None,
    props: dict[str, Any] | None = None,
    client: str | None = None,
) -> dict:
    t = layer.sa_table
    before = get_feature(conn, layer, fid, for_update=True)
    if before["meta"]["version"] != version:
        raise StaleVersion(before["meta"]["version"], version)
    values: dict[str, Any] = {
        **(props or {}),
        "version": t.c.version + 1,
        "updated_by": actor,
        "updated_at": sa.func.now(),
    }
    given = (props or {}).get("district")
    if geom is not None:
        values["geom"] = _geom_param(geom)
    if _fills_district(layer) and (geom is not None or "district" in (props or {})):
        # The district follows the geometry: a given one must fit it; without one, the stored district stays while
        # it still fits the (new) geometry, else the geometry's district replaces it.
        where = geom if geom is not None else shapely.geometry.shape(before["geometry"])
        kept = before["properties"].get("district")
        if not given and kept and geom is not None and districting.fits(conn, where, kept):
            values["district"] = kept
        else:
            values["district"] = districting.resolve_one(conn, where, given)
    try:
        conn.execute(sa.update(t).where(t.c.id == fid, t.c.version == version).values(**values))
    except sa.exc.ProgrammingError as e:
        by = "district" if given else "geometry" if geom is not None else None
        raise _out_of_scope(e, values.get("district", before["properties"].get("district")), by) or e
    after = get_feature(conn, layer, fid)
    audit.record(conn, actor, "update", layer.id, fid, before, after, client)
    return after


def delete(conn: Connection, layer: Layer, fid: int, version: int, actor: str, client: str | None = None) -> None:
    """Soft delete: the row stays (with who and when) for the audit trail."""
    t = layer.sa_table
    before = get_feature(conn, layer, fid, for_update=True)
    if before["meta"]["version"] != version:
        raise StaleVersion(before["meta"]["version"], version)
    conn.execute(
        sa.update(t).where(t.c.id == fid).values(deleted_at=sa.func.now(), deleted_by=actor, version=t.c.version + 1)
    )
    audit.record(conn, actor, "delete", layer.id, fid, before, None, client)
