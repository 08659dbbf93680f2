"""A segment's construction status follows the city's acceptance of the progress reports (VT-16): when a progress
report is accepted, each segment it names becomes 在建 (under construction) once some length is completed, and
已建成 (completed) once the accepted length of its plan's year reaches the planned length. The change goes through the
layer's store (version, audit record, tile generation), as a clerk's edit on the map would; the map styles the three
states differently (the layer's ``Style``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from geo.layer import store
from geo.layer.registry import registry
from geo.workflow import Machine, on_transition

# Per segment of the report: its planned length in the year's plan and the length completed in the year's accepted
# progress reports. A string: the lines are JSON elements.
PROGRESS = sa.text("""
    SELECT s.segment_id,
           (SELECT (x->>'planned_length_m')::float8
              FROM gw_reports p, jsonb_array_elements(p.items) x
             WHERE p.kind = 'plan' AND p.district = :d AND p.year = :y
               AND (x->>'segment_id')::bigint = s.segment_id) AS planned_m,
           (SELECT coalesce(sum((x->>'completed_m')::float8), 0)
              FROM gw_reports r, jsonb_array_elements(r.items) x
             WHERE r.kind = 'progress' AND r.status = 'accepted' AND r.district = :d AND r.year = :y
               AND (x->>'segment_id')::bigint = s.segment_id) AS completed_m
      FROM (SELECT DISTINCT (x->>'segment_id')::bigint AS segment_id
              FROM gw_reports r, jsonb_array_elements(r.items) x WHERE r.id = :id) s
""")


def status_of(planned_m: float | None, completed_m: float) -> str | None:
    if completed_m <= 0:
        return None
    if planned_m is not None and completed_m >= planned_m - 1e-6:
        return "已建成"
    return "在建"


@on_transition("gw_report")
def follow_progress(conn: Connection, machine: Machine, before: dict, after: dict, who: Any) -> None:
    if after.get("kind") != "progress" or after.get("status") != "accepted":
        return
    layer = registry.get("greenways")
    rows = conn.execute(PROGRESS, {"d": after["district"], "y": after["year"], "id": after["id"]}).mappings().all()
    for r in rows:
        status = status_of(r["planned_m"], r["completed_m"])
        if status is None:
            continue
        try:
            current = store.get_feature(conn, layer, r["segment_id"], for_update=True)
        except store.NotFound:
            continue  # deleted from the map since it was reported
        if current["properties"].get("status") in (status, "已建成"):
            continue  # a completed segment stays completed
        store.update(
            conn, layer, r["segment_id"], current["meta"]["version"], who.user, props={"status": status},
            client=getattr(who, "client", None),
        )  # fmt: skip
