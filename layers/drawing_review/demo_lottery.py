"""Demo data of the lottery (DR-01, DR-02): the qualification scopes of the demo's review agencies (seeded at
``order=19`` in ``dr_agencies``; nothing is done when there are none), a ratio table per jurisdiction — the agencies
of 建德市 and 淳安县 (by their enterprise's district) take part in their county's table, the others in the city's —
and a ratio history of a few edits over the past year.

Most agencies may review everything; a few are narrower so that the avoidance shows in the draw records: one only
房屋建筑 of grades 二类/三类 up to 100,000 ㎡, one without 防雷（气象）审查, one whose older certificate expired."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from etl.demo import REF_DATE, World
from geo.bounds import BEIJING
from geo.modules import seeder
from layers.drawing_review import ratios
from layers.drawing_review.agencies import E, Q
from layers.drawing_review.agencies import agencies as A
from layers.drawing_review.process import CATEGORIES, CONTENTS, COUNTIES, GRADES

CITY_TARGETS = (2500, 2000, 2000, 1500, 1000, 1000)  # hundredths of a percent, for six city agencies
COUNTY_TARGETS = (4000, 3500, 2500)


def even(n: int) -> list[int]:
    """``n`` targets summing to 100 % (the rest of the division to the first ones)."""
    base, rest = divmod(ratios.TOTAL_BP, n)
    return [base + (1 if i < rest else 0) for i in range(n)]


def targets_for(ids: list[int]) -> dict[int, int]:
    preset = {6: CITY_TARGETS, 3: COUNTY_TARGETS}.get(len(ids))
    return dict(zip(ids, preset or even(len(ids))))


def split(rows: list) -> dict[str, list[int]]:
    """The agencies of each jurisdiction: a county's own (by district); a county without any takes the last
    three of the city's (so that every jurisdiction can draw)."""
    groups = {j: [r.id for r in rows if r.district == j] for j in COUNTIES}
    city = [r.id for r in rows if r.district not in COUNTIES]
    for j in COUNTIES:
        if not groups[j] and len(city) > 3:
            groups[j], city = city[-3:], city[:-3]
    return {"市本级": city, **groups}


@seeder(order=20)
def seed_lottery(conn, world: World) -> dict:
    rows = conn.execute(
        sa.select(A.c.id, E.c.district).select_from(A.join(E, E.c.uscc == A.c.uscc)).order_by(A.c.id)
    ).all()
    if not rows:
        return {}
    # A second load (after ``--reset``, which keeps the agencies: they are no layer's) finds them scoped already.
    if conn.execute(
        sa.select(sa.exists().where(Q.c.agency_id.in_([r.id for r in rows]), Q.c.created_by == "demo"))
    ).scalar():
        return {}
    ref: dt.date = REF_DATE.astype(dt.date)
    start, end = ref - dt.timedelta(days=3 * 365), ref + dt.timedelta(days=2 * 365)
    quals = []
    for i, r in enumerate(rows):
        cats, grades, area, contents = list(CATEGORIES), list(GRADES), None, list(CONTENTS)
        if i == 1:
            cats, grades, area = ["房屋建筑"], ["二类", "三类"], 100_000.0
        if i == 4:
            contents = [c for c in CONTENTS if c != "meteorology"]
        if i == 7:  # an older certificate that expired, beside the valid one
            quals.append(
                dict(
                    agency_id=r.id,
                    certificate_no=f"审查资质-{r.id:03d}-A",
                    categories=cats,
                    grades=grades,
                    max_floor_area_m2=area,
                    contents=contents,
                    valid_from=start - dt.timedelta(days=5 * 365),
                    valid_to=start - dt.timedelta(days=1),
                    created_by="demo",
                    updated_by="demo",
                )
            )
        quals.append(
            dict(
                agency_id=r.id,
                certificate_no=f"审查资质-{r.id:03d}",
                categories=cats,
                grades=grades,
                max_floor_area_m2=area,
                contents=contents,
                valid_from=start,
                valid_to=end,
                created_by="demo",
                updated_by="demo",
            )
        )
    conn.execute(sa.insert(Q), quals)

    edits = 0
    year_ago = dt.datetime.combine(ref - dt.timedelta(days=365), dt.time(9, 30), BEIJING)
    for jurisdiction, ids in split(rows).items():
        if not ids:
            continue
        first = dict(zip(ids, even(len(ids))))
        ratios.store(conn, "demo", jurisdiction, first, "年度摇号比例初始设置", at=year_ago)
        edits += 1
        if jurisdiction == "市本级" and len(ids) >= 2:
            # Half a year later: the two largest agencies get more after the annual assessment.
            mid = dict(first)
            mid[ids[0]], mid[ids[-1]] = mid[ids[0]] + 500, mid[ids[-1]] - 500
            ratios.store(
                conn,
                "demo",
                jurisdiction,
                mid,
                "根据上半年审查质量考核结果调整",
                at=year_ago + dt.timedelta(days=180),
            )
            edits += 1
        ratios.store(
            conn,
            "demo",
            jurisdiction,
            targets_for(ids),
            "按审查能力和年度考核结果调整本年度比例",
            at=year_ago + dt.timedelta(days=300),
        )
        edits += 1
    return {"dr_qualifications": len(quals), "dr_ratio_history": edits}
