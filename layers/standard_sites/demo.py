"""Demo data of the standardized-site module: the project register (项目库) built from the demo's site pins (the
module's seeder, in ``demo_flow``, loads it first, then shows the module in use).

Deterministic (derived from the sites' codes and names, no random state): every site becomes a project with the
same code; about one project in twelve has no construction permit yet (it cannot register). Enterprises get
unified social credit codes with a valid GB 32100 check digit, the same code for the same company name.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from stdnum.cn import uscc as uscc_mod

from layers.standard_sites import tables as t

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 characters


def uscc_for(name: str) -> str:
    """A stable, valid credit code for a (demo) company name: 91 (enterprise) + 330100 (Hangzhou) + 9 + check."""
    digest = hashlib.sha256(name.encode()).digest()
    body = "91330100" + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:9])
    return body + uscc_mod.calc_check_digit(body)


def without_permit(code: str) -> bool:
    return hashlib.sha256(code.encode()).digest()[0] % 12 == 0


def seed_projects(conn: Connection, actor: str = "demo") -> dict:
    s = t.sites()
    query = (
        sa.select(
            s.c.id,
            s.c.code,
            s.c.name,
            s.c.district,
            s.c.address,
            s.c.permit_no,
            s.c.builder,
            s.c.construction_unit,
            s.c.supervision_unit,
            s.c.project_type,
            s.c.floor_area_m2,
            s.c.investment_wan,
            s.c.start_date,
            s.c.planned_end_date,
            s.c.status,
        )
        .where(s.c.deleted_at.is_(None))
        .order_by(s.c.id)
    )
    rows = conn.execute(query).mappings().all()
    params = []
    for r in rows:
        finished = r["status"] in ("竣工验收", "考评中", "已获评")
        params.append(
            {
                "code": r["code"],
                "name": r["name"],
                "site_id": r["id"],
                "district": r["district"],
                "address": r["address"],
                "project_type": r["project_type"],
                "builder_name": r["builder"],
                "builder_uscc": uscc_for(r["builder"] or r["code"]),
                "construction_name": r["construction_unit"],
                "construction_uscc": uscc_for(r["construction_unit"] or r["code"]),
                "supervision_name": r["supervision_unit"],
                "supervision_uscc": uscc_for(r["supervision_unit"] or r["code"]),
                "permit_no": None if without_permit(r["code"]) else r["permit_no"],
                "permit_date": None if without_permit(r["code"]) else r["start_date"],
                "floor_area_m2": r["floor_area_m2"],
                "investment_wan": r["investment_wan"],
                "start_date": r["start_date"],
                "planned_end_date": r["planned_end_date"],
                "completion_date": r["planned_end_date"] if finished else None,
                "created_by": actor,
                "updated_by": actor,
            }
        )
    if params:
        conn.execute(postgresql.insert(t.projects).on_conflict_do_nothing(index_elements=["code"]), params)
    return {"projects": len(params)}
