"""Demo data of the standardized-site module in use (after the project register, the projects module's seeder): the
module's own functions replay a year of it, so that every part of the workbench shows something and the demo
doubles as a smoke test of the flow.

- organisations (单位) for every unit the sites name, found by credit code (the registration links to them);
- about forty projects registered by their construction units, most a year ago, a few recently, with their
  construction- and supervision-unit accounts (in those organisations);
- their monthly reports month by month since registration, each with the required site photos (tiny JPEGs whose
  EXIF time and GPS match the reported ones, inside the site's fence), in every state: received (some late, some
  returned once first), approved, waiting for the supervision unit, returned, drafts; a few months never reported;
- bonus claims in every state, deductions of enterprises and persons, stage evaluations on site;
- 200 experts in five groups; a finished review round (two experts drawn per recommended application, every review
  in, decisions made, the results disclosed) and a current round with reviews coming in; applications in the other
  states; notices.

Each step runs ``common.as_of`` its time, anchored on today, as the person whose step it is (the unit accounts the
registration created, the district's demo account or the commission's, the experts' accounts). Deterministic for a
seed on a given day (one random stream, ``world.rng("standard_sites")``). Run again after ``--reset``, it first
removes what an earlier run left outside the business layers (unit and expert accounts, experts, rounds, notices).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import Connection
from stdnum.cn import ric

from api.accounts import users
from api.auth import Principal, load_user
from api.cases import act
from etl import names
from etl.accounts_cli import DEMO_ACCOUNTS, demo_password, ensure_demo_accounts
from geo.modules import seeder
from layers.standard_sites import bonus as bonus_claims
from layers.standard_sites import (
    common,
    deductions,
    draws,
    evaluations,
    experts,
    notices,
    photos,
    registration,
    reports,
    reviews,
    stages,
    stats,
)
from layers.standard_sites import tables as t
from layers.standard_sites.demo import uscc_for

# What each registered project goes through: (role, how many, registered so many months ago). Every monthly report
# carries five photos, so the demo keeps to sixteen of the 600 sites: enough for every state of every case. (The
# unit accounts get the demo password, hashed once for the whole demo: etl.demo.build_demo.)
ROLES = (
    ("finished", 4, (10, 12)),  # the finished round: three recommended (two awarded, one not), one declined
    ("current", 2, (7, 10)),  # the current round: drawn, reviews coming in
    ("other", 4, (3, 7)),  # applications in draft, submitted, returned, supervision_approved
    ("ongoing", 3, (12, 14)),  # still building: twelve months of reports
    ("recent", 3, (1, 6)),  # registered in the last months
)
PROJECTS = sum(n for _, n, _ in ROLES)
EXPERTS = {"房屋建筑": 90, "市政基础设施": 45, "轨道交通": 25, "水利": 20, "其他": 20}
SPECIALTIES = {
    "房屋建筑": ("土建", "安全", "机电安装", "装饰装修"),
    "市政基础设施": ("道路桥梁", "给排水", "安全"),
    "轨道交通": ("盾构", "车站土建", "安全"),
    "水利": ("水工结构", "河道整治"),
    "其他": ("园林景观", "安全", "电气"),
}
INSTITUTES = (
    "浙江大学建筑工程学院",
    "浙江工业大学土木工程学院",
    "杭州市建设工程质量安全监督总站",
    "浙江省建筑设计研究院",
    "杭州市城建设计研究院有限公司",
    "中国联合工程有限公司",
    "浙江省建设工程造价管理总站",
    "杭州市建筑业协会",
)
TITLES = ("高级工程师", "高级工程师", "正高级工程师", "工程师")
REQUIRED = ("P01", "P02", "P03", "P05", "P06")
# Last month's report of the projects still building, in turn: so that every state shows.
LAST_MONTH = ("received", "submitted", "returned", "supervision_approved", "draft")
RETURN_REASON = "现场照片不清晰，扬尘治理照片未体现喷淋设施，请补拍后重新提交。"
HANGZHOU_AREAS = ("330122", "330127")  # county codes the ID check knows (stdnum); the tests use 330100
UNIT_PHONES = "1990571"  # + 4 digits: the registrations' contacts
EXPERT_PHONES = "1980571"  # + 4 digits: the experts


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), common.BEIJING)


def _id_number(rng: np.random.Generator, i: int) -> str:
    born = date(1962, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 24)))
    body = f"{HANGZHOU_AREAS[i % len(HANGZHOU_AREAS)]}{born:%Y%m%d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def jpeg(lon: float, lat: float, taken: datetime, colour: tuple[int, int, int]) -> bytes:
    """A small camera-like JPEG: EXIF make, time taken (with offset) and GPS position."""
    img = Image.new("RGB", (96, 72), colour)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[ExifTags.Base.DateTimeOriginal] = taken.astimezone(common.BEIJING).strftime("%Y:%m:%d %H:%M:%S")
    ifd[ExifTags.Base.OffsetTimeOriginal] = "+08:00"

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
    img.save(buf, "JPEG", exif=exif, quality=70)
    return buf.getvalue()


def pdf(title: str) -> bytes:
    """A one-page PDF (the scanned certificate an application attaches)."""
    buf = io.BytesIO()
    Image.new("RGB", (120, 170), (245, 245, 240)).save(buf, "PDF", title=title)
    return buf.getvalue()


@dataclass
class Site:
    site_id: int
    project_id: int
    code: str
    name: str
    district: str
    project_type: str
    construction: str
    supervision: str
    fence: Any  # shapely polygon
    registered: date
    role: str
    sg: Principal | None = None
    jl: Principal | None = None
    completion: date | None = None
    reports: list[int] = field(default_factory=list)


class Replay:
    def __init__(self, conn: Connection, world: Any) -> None:
        self.conn = conn
        self.rng = world.rng("standard_sites")
        self.wall = datetime.now(UTC)
        self.today = self.wall.astimezone(common.BEIJING).date()
        self.counts: dict[str, int] = {}
        self.staff: dict[str | None, Principal] = {}
        self.photo_seq = 0
        self.last_month_seq = 0

    # -- helpers --------------------------------------------------------------------------------------------

    def when(self, day: date, hour: int = 10) -> datetime:
        """A moment on ``day`` (never later than now)."""
        return min(_at(day, hour, int(self.rng.integers(0, 60))), self.wall - timedelta(minutes=1))

    def past(self, day: date) -> bool:
        return day < self.today

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def principal(self, user_id: int) -> Principal:
        who = load_user(self.conn, user_id, via="demo")
        assert who is not None
        return who

    def authority(self, district: str) -> Principal:
        """The district's demo account where there is one, else the commission's."""
        return self.staff.get(district) or self.staff[None]

    def point_in(self, fence: Any) -> tuple[float, float]:
        x0, y0, x1, y1 = fence.bounds
        for _ in range(200):
            x, y = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if fence.contains(shapely.Point(x, y).buffer(0.00005)):
                return round(float(x), 6), round(float(y), 6)
        c = fence.representative_point()
        return round(c.x, 6), round(c.y, 6)

    def photo(self, who: Principal, kind: str, owner: int, s: Site, taken: datetime, code: str | None) -> None:
        lon, lat = self.point_in(s.fence)
        self.photo_seq += 1
        colour = (int(self.rng.integers(60, 200)), int(self.rng.integers(60, 200)), int(self.rng.integers(60, 200)))
        photos.add_photo(
            self.conn,
            who,
            kind,
            owner,
            jpeg(lon, lat, taken, colour),
            f"IMG_{taken.astimezone(common.BEIJING):%Y%m%d}_{self.photo_seq:05d}.jpg",
            code,
            lon,
            lat,
            float(self.rng.integers(4, 15)),
            None,
            taken,
        )
        self.count("st_photos")

    # -- before: what an earlier run left -----------------------------------------------------------------------

    def forget_previous(self) -> None:
        """After ``--reset`` emptied the business layers (and, by cascade, the registrations, reports, evaluations
        and assignments), remove the rest of an earlier run: its unit accounts (by the contacts' phone numbers the
        demo gives out) no longer bound to a registration, its experts and their accounts, its rounds and draws, its
        notices, the history and credit events of the emptied cases."""
        c = self.conn
        staff = [a[0] for a in DEMO_ACCOUNTS]
        c.execute(
            sa.text(
                "DELETE FROM users u WHERE u.phone LIKE :p AND u.username ~ '^(sg|jl)-' AND NOT EXISTS "
                "(SELECT 1 FROM st_registrations r WHERE u.id IN (r.construction_user_id, r.supervision_user_id))"
            ),
            {"p": f"{UNIT_PHONES}____"},
        )
        gone = "NOT EXISTS (SELECT 1 FROM st_assignments a WHERE a.expert_id = experts.id)"
        expert_users = c.execute(
            sa.text(f"DELETE FROM experts WHERE created_by = ANY(:s) AND {gone} RETURNING user_id"), {"s": staff}
        ).scalars()
        c.execute(
            sa.text(
                "DELETE FROM users WHERE id = ANY(:ids) AND NOT EXISTS (SELECT 1 FROM experts e WHERE e.user_id = users.id)"
            ),
            {"ids": [i for i in expert_users if i is not None]},
        )
        c.execute(
            sa.text(
                "DELETE FROM st_draws d WHERE d.created_by = ANY(:s) AND NOT EXISTS "
                "(SELECT 1 FROM st_assignments a WHERE a.draw_id = d.id)"
            ),
            {"s": staff},
        )
        c.execute(
            sa.text(
                "DELETE FROM st_rounds r WHERE r.created_by = ANY(:s) AND NOT EXISTS "
                "(SELECT 1 FROM st_draws d WHERE d.round_id = r.id) AND NOT EXISTS "
                "(SELECT 1 FROM st_evaluations e WHERE e.round_id = r.id)"
            ),
            {"s": staff},
        )
        c.execute(sa.text("DELETE FROM st_notices WHERE created_by = ANY(:s)"), {"s": staff})
        for kind, table in (
            ("st_report", "st_reports"),
            ("st_bonus", "st_bonus_claims"),
            ("st_evaluation", "st_evaluations"),
            ("st_assignment", "st_assignments"),
        ):
            c.execute(
                sa.text(
                    f"DELETE FROM case_history h WHERE h.case_kind = :k AND NOT EXISTS "
                    f"(SELECT 1 FROM {table} x WHERE x.id = h.case_id)"
                ),
                {"k": kind},
            )
        c.execute(
            sa.text(
                "DELETE FROM credit_events e WHERE e.source LIKE 'st\\_%' AND NOT EXISTS "
                "(SELECT 1 FROM sites s WHERE s.id = e.site_id)"
            )
        )

    # -- organisations, staff -------------------------------------------------------------------------------

    def organisations(self) -> None:
        """An organisation (企业) for every unit the sites name, in the district where it has most sites."""
        rows = self.conn.execute(
            sa.text(
                "SELECT name, mode() WITHIN GROUP (ORDER BY district) AS district FROM ("
                "SELECT construction_unit AS name, district FROM sites WHERE deleted_at IS NULL UNION ALL "
                "SELECT supervision_unit, district FROM sites WHERE deleted_at IS NULL UNION ALL "
                "SELECT builder, district FROM sites WHERE deleted_at IS NULL) u "
                "WHERE name IS NOT NULL GROUP BY name ORDER BY name"
            )
        ).all()
        o = t.organisations
        for name, district in rows:
            uscc = uscc_for(name)
            if self.conn.execute(sa.select(o.c.id).where(o.c.uscc == uscc)).scalar() is None:
                users.create_org(self.conn, name, "enterprise", uscc, district, actor="demo")
                self.count("organisations")

    def accounts(self) -> None:
        ensure_demo_accounts(self.conn)
        for username, _, _, district in DEMO_ACCOUNTS:
            if username in ("city", "xihu", "yuhang", "chunan"):
                uid = self.conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
                self.staff[district] = self.principal(uid)

    # -- registration -----------------------------------------------------------------------------------------

    def choose(self) -> list[dict]:
        """The projects that register: holding a permit, under way or finished, started two months ago or more;
        some in each district that has a demo account."""
        rows = (
            self.conn.execute(
                sa.text(
                    "SELECT p.id, p.code, p.name, p.district, p.permit_no, p.construction_uscc, p.start_date, "
                    "coalesce(p.project_type, s.project_type, '房屋建筑') AS project_type, p.construction_name, "
                    "p.supervision_name, s.id AS site_id, ST_AsBinary(f.geom) AS fence FROM projects p "
                    "JOIN sites s ON s.id = p.site_id JOIN site_fences f ON f.site_id = s.id "
                    "WHERE p.permit_no IS NOT NULL AND s.status IN ('在建', '竣工验收', '考评中', '已获评') "
                    "AND p.start_date <= :before AND p.construction_uscc IS NOT NULL ORDER BY p.code"
                ),
                {"before": self.today - timedelta(days=440)},
            )
            .mappings()
            .all()
        )
        order = self.rng.permutation(len(rows))
        chosen: list[dict] = []
        for district, n in (("西湖区", 4), ("余杭区", 3), ("淳安县", 1)):
            chosen += [rows[i] for i in order if rows[i]["district"] == district][:n]
        chosen += [rows[i] for i in order if rows[i] not in chosen][: PROJECTS - len(chosen)]
        return [dict(r) for r in sorted(chosen, key=lambda r: r["code"])]

    def register(self, rows: list[dict]) -> list[Site]:
        contacts = names.person_names(self.rng, 2 * len(rows))
        plan = [(role, span) for role, n, span in ROLES for _ in range(n)]
        order = self.rng.permutation(len(rows))
        sites = []
        for i, p in enumerate(rows):
            role, (lo, hi) = plan[int(order[i])]
            month = self.today.replace(day=1)
            for _ in range(int(self.rng.integers(lo, hi))):
                month = (month - timedelta(days=1)).replace(day=1)
            day = max(month + timedelta(days=int(self.rng.integers(2, 25))), p["start_date"])
            body = registration.Registration(
                project_code=p["code"],
                permit_no=p["permit_no"],
                construction_uscc=p["construction_uscc"],
                construction_contact=registration.Contact(name=contacts[2 * i], phone=f"{UNIT_PHONES}{2 * i:04d}"),
                supervision_contact=registration.Contact(
                    name=contacts[2 * i + 1], phone=f"{UNIT_PHONES}{2 * i + 1:04d}"
                ),
            )
            with common.as_of(self.when(day)):
                out = registration.register(self.conn, body, actor="demo", password=demo_password())
            reg = self.conn.execute(
                sa.select(t.registrations.c.construction_user_id, t.registrations.c.supervision_user_id).where(
                    t.registrations.c.id == out["id"]
                )
            ).one()
            s = Site(
                site_id=p["site_id"],
                project_id=p["id"],
                code=p["code"],
                name=p["name"],
                district=p["district"],
                project_type=p["project_type"],
                construction=p["construction_name"],
                supervision=p["supervision_name"],
                fence=shapely.from_wkb(bytes(p["fence"])),
                registered=day,
                role=role,
                sg=self.principal(reg.construction_user_id),
                jl=self.principal(reg.supervision_user_id),
            )
            sites.append(s)
            self.count("st_registrations")
        return sites

    # -- monthly reports ------------------------------------------------------------------------------------------

    def report_form(self, month: date, last: bool) -> dict:
        found = int(self.rng.integers(0, 8))
        return {
            "progress": "竣工验收准备" if last else ("主体结构施工" if month.month % 3 else "基础及地下室施工"),
            "workers": int(self.rng.integers(40, 420)),
            "safety_checks": int(self.rng.integers(2, 9)),
            "hazards_found": found,
            "hazards_fixed": found - int(self.rng.random() < 0.2 and found > 0),
            "remarks": "",
        }

    def monthly_reports(self, s: Site) -> None:
        """Every month from registration to this one (to the completion month for a completed project): this month
        a draft or nothing yet; last month in one of the states in turn (``LAST_MONTH``), submitted at its end;
        earlier months received (some late, some returned once first), a few left approved, a few never reported."""
        due = common.report_due_day()
        end = min(s.completion or self.today, self.today)
        this_month, last_month = (
            self.today.replace(day=1),
            (self.today.replace(day=1) - timedelta(days=1)).replace(day=1),
        )
        for month in common.months(s.registered, end):
            nxt = common.next_month(month)
            last = s.completion is not None and month == s.completion.replace(day=1)
            if month == this_month:
                if self.rng.random() < 0.5:
                    self.new_report(s, month, self.when(self.today, 9), last)  # a draft of this month
                continue
            fixed = False
            if month == last_month and s.completion is None:
                target = LAST_MONTH[self.last_month_seq % len(LAST_MONTH)]
                self.last_month_seq += 1
                day = min(month + timedelta(days=int(self.rng.integers(24, 28))), self.today - timedelta(days=1))
            else:
                if self.rng.random() < 0.06:
                    continue  # never reported: a missing month once due
                target = "supervision_approved" if self.rng.random() < 0.04 else "received"
                fixed = self.rng.random() < 0.1
                late = self.rng.random() < 0.1
                day = nxt + timedelta(
                    days=int(self.rng.integers(due + 1, due + 9) if late else self.rng.integers(-4, due - 2))
                )
            day = min(day, self.today)
            rid = self.new_report(s, month, self.when(day, 8), last)
            if target == "draft":
                continue
            self.photos_and_submit(s, rid, day)
            steps: list[tuple[str, Principal, str | None]] = []
            if target == "returned" or fixed:
                steps.append(("return", s.jl, RETURN_REASON))
            if fixed:
                steps.append(("submit", s.sg, None))
            if target in ("supervision_approved", "received"):
                steps.append(("approve", s.jl, None))
            if target == "received":
                steps.append(("receive", self.authority(s.district), None))
            for k, (action, who, reason) in enumerate(steps):
                step_day = min(day + timedelta(days=k + 1), self.today)
                if action == "submit":
                    self.photo(s.sg, "report", rid, s, self.when(step_day, 10), "P03")  # the photo asked for again
                with common.as_of(self.when(step_day, 14)):
                    act(self.conn, "st_report", rid, action, who, reason)

    def new_report(self, s: Site, month: date, at: datetime, last: bool) -> int:
        with common.as_of(at):
            out = reports.create(
                self.conn,
                s.sg,
                s.site_id,
                reports.NewReport(month=f"{month:%Y-%m}", form=self.report_form(month, last)),
            )
        self.count("st_reports")
        s.reports.append(out["id"])
        return out["id"]

    def photos_and_submit(self, s: Site, rid: int, day: date) -> None:
        shot = self.when(day, 8)
        for code in REQUIRED:
            self.photo(s.sg, "report", rid, s, shot, code)
        with common.as_of(self.when(day, 17)):
            act(self.conn, "st_report", rid, "submit", s.sg)

    # -- bonus claims, deductions, stage evaluations --------------------------------------------------------------

    def bonus(self, sites: list[Site]) -> None:
        plan = ["confirmed"] * 6 + ["rejected"] * 2 + ["supervision_approved"] * 2 + ["submitted", "returned", "draft"]
        picks = self.rng.choice(len(sites), len(plan), replace=False)
        for state, i in zip(plan, picks):
            s = sites[int(i)]
            item = ("B01", "B02", "B03", "B04")[int(self.rng.integers(4))]
            day = s.registered + timedelta(days=int(self.rng.integers(30, 200)))
            day = min(day, self.today - timedelta(days=12))
            with common.as_of(self.when(day, 10)):
                cid = bonus_claims.create(
                    self.conn, s.sg, s.site_id, bonus_claims.NewClaim(item_code=item, description=_BONUS_TEXT[item])
                )["id"]
            self.count("st_bonus_claims")
            if state == "draft":
                continue
            self.photo(s.sg, "bonus", cid, s, self.when(day, 11), None)
            steps = [("submit", s.sg, None)]
            if state == "returned":
                steps.append(("return", s.jl, "佐证材料缺少主管部门的证明文件，请补充。"))
            elif state != "submitted":
                steps.append(("approve", s.jl, None))
                if state == "confirmed":
                    steps.append(("confirm", self.authority(s.district), None))
                elif state == "rejected":
                    steps.append(("reject", self.authority(s.district), "观摩活动为区级，不符合市级及以上加分条件。"))
            for k, (action, who, reason) in enumerate(steps):
                with common.as_of(self.when(day + timedelta(days=k + 1), 15)):
                    act(self.conn, "st_bonus", cid, action, who, reason)

    def deductions(self, sites: list[Site]) -> None:
        picks = self.rng.choice(len(sites), 10, replace=False)
        people = names.person_names(self.rng, 3)
        for k, i in enumerate(picks):
            s = sites[int(i)]
            item = ("D02", "D03", "D02", "D04", "D01", "D05")[k % 6]
            day = s.registered + timedelta(days=int(self.rng.integers(20, 300)))
            day = min(day, self.today - timedelta(days=3))
            if k < 3:
                subject = {
                    "subject_kind": "person",
                    "subject_code": _id_number(self.rng, 900 + k),
                    "subject_name": people[k],
                }
                reason = f"项目负责人{people[k]}未按要求组织隐患整改。"
            else:
                subject = {
                    "subject_kind": "enterprise",
                    "subject_code": uscc_for(s.construction),
                    "subject_name": s.construction,
                }
                reason = _DEDUCTION_TEXT[item]
            body = deductions.NewDeduction(item_code=item, reason=reason, occurred_on=day, **subject)
            with common.as_of(self.when(day + timedelta(days=1), 16)):
                deductions.create(self.conn, self.authority(s.district), s.site_id, body)
            self.count("st_deductions")

    def stages(self, sites: list[Site]) -> None:
        for s in sites[::2]:
            todo = [("foundation", 40), ("main_structure", 150)] + ([("decoration", 0)] if s.completion else [])
            for stage, after_days in todo:
                day = (
                    s.completion - timedelta(days=20)
                    if stage == "decoration"
                    else s.registered + timedelta(days=after_days)
                )
                if s.completion and day > s.completion:
                    day = s.completion - timedelta(days=10)
                if not self.past(day):
                    continue
                lon, lat = self.point_in(s.fence)
                result = "不合格" if self.rng.random() < 0.06 else ("优良" if self.rng.random() < 0.4 else "合格")
                body = stages.NewStage(
                    stage=stage,
                    evaluated_on=day,
                    result=result,
                    score=round(float(self.rng.uniform(55, 70) if result == "不合格" else self.rng.uniform(75, 96)), 1),
                    remarks="现场检查：资料齐全，安全防护到位。"
                    if result != "不合格"
                    else "临边防护缺失，责令限期整改后复查。",
                    lon=lon,
                    lat=lat,
                    accuracy_m=6.0,
                )
                who = self.authority(s.district)
                with common.as_of(self.when(day, 10)):
                    sid = stages.create(self.conn, who, s.site_id, body, None)["id"]
                    self.photo(who, "stage", sid, s, self.when(day, 10), None)
                self.count("st_stage_evals")

    # -- experts, evaluations, rounds ---------------------------------------------------------------------------

    def experts(self, sites: list[Site]) -> list[int]:
        city = self.staff[None]
        total = sum(EXPERTS.values())
        people = names.person_names(self.rng, total, male_share=0.7)
        units = sorted({s.construction for s in sites})
        ids, i = [], 0
        with common.as_of(self.when(self.today - timedelta(days=400), 9)):
            for group, n in EXPERTS.items():
                for _ in range(n):
                    spec = list(SPECIALTIES[group])
                    chosen = sorted(self.rng.choice(len(spec), int(self.rng.integers(1, 3)), replace=False).tolist())
                    own = self.rng.random() < 0.3
                    unit = units[int(self.rng.integers(len(units)))] if own else INSTITUTES[i % len(INSTITUTES)]
                    away = self.rng.random() < 0.05
                    data = {
                        "name": people[i],
                        "id_number": _id_number(self.rng, i),
                        "phone": f"{EXPERT_PHONES}{i:04d}",
                        "group_name": group,
                        "specialties": [spec[c] for c in chosen],
                        "enterprise_name": unit,
                        "enterprise_uscc": uscc_for(unit),
                        "title": TITLES[int(self.rng.integers(len(TITLES)))],
                        "available": not away,
                        "unavailable_reason": "长期出差，暂停参加评审" if away else None,
                    }
                    ids.append(experts.create(self.conn, data, city.user, user_id=city.user_id)["id"])
                    i += 1
        self.count("experts", len(ids))
        return ids

    def complete(self, s: Site, day: date) -> None:
        """The unit enters its completion acceptance (竣工验收) in the project's information."""
        version = self.conn.execute(sa.select(t.projects.c.version).where(t.projects.c.id == s.project_id)).scalar_one()
        with common.as_of(self.when(day, 17)):
            registration.update_project(
                s.project_id, registration.ProjectUpdate(version=version, completion_date=day), who=s.sg, conn=self.conn
            )
        s.completion = day

    def application(self, s: Site, start: date, until: str) -> int:
        """An evaluation application, taken from the draft up to ``until``: draft, submitted, returned,
        supervision_approved, recommended or not_recommended."""
        form = {
            "award": evaluations.AWARDS[int(self.rng.random() < 0.3)],
            "project_manager": names.person_names(self.rng, 1)[0],
            "safety_officer": names.person_names(self.rng, 1)[0],
            "highlights": "全过程扬尘在线监测，智慧工地平台接入；标准化安全防护设施工具化、定型化。",
        }
        with common.as_of(self.when(start, 10)):
            eid = evaluations.create(self.conn, s.sg, s.site_id, evaluations.NewEvaluation(form=form))["id"]
            evaluations.add_attachment(
                self.conn, s.sg, eid, pdf("竣工验收备案表"), "竣工验收备案表.pdf", "竣工验收备案表"
            )
            self.photo(s.sg, "evaluation", eid, s, self.when(start, 9), None)
        self.count("st_evaluations")
        steps: list[tuple[str, Principal, str | None]] = []
        if until != "draft":
            steps.append(("submit", s.sg, None))
        if until == "returned":
            steps.append(("return", s.jl, "缺少竣工验收备案表盖章页，请补充后重新提交。"))
        if until in ("supervision_approved", "recommended", "not_recommended"):
            steps.append(("approve", s.jl, None))
        if until == "recommended":
            steps.append(("recommend", self.authority(s.district), "月度申报齐全，现场管理规范，同意推荐。"))
        if until == "not_recommended":
            steps.append(("decline", self.authority(s.district), "考评期内发生扬尘治理不到位被通报，本批次不予推荐。"))
        for k, (action, who, reason) in enumerate(steps):
            with common.as_of(self.when(start + timedelta(days=2 * k + 1), 15)):
                act(self.conn, "st_evaluation", eid, action, who, reason)
        return eid

    def round(self, name: str, opens: date, closes: date, created: date) -> int:
        city = self.staff[None]
        body = draws.RoundIn(name=name, review_from=_at(opens, 9), review_to=_at(closes, 17), reminder_hours=24)
        with common.as_of(self.when(created, 9)):
            return draws.create_round(body, who=city, conn=self.conn)["id"]

    def draw(self, round_id: int, day: date) -> dict[int, list[int]]:
        city = self.staff[None]
        with common.as_of(self.when(day, 10)):
            d = draws.commit_draw(round_id, draws.DrawRequest(), who=city, conn=self.conn)
        with common.as_of(self.when(day, 11)):
            out = draws.run(self.conn, d["id"], city)
        self.count("st_draws")
        got: dict[int, list[int]] = {}
        for a in out["assignments"]:
            got.setdefault(a["evaluation_id"], []).append(a["id"])
        return got

    def review(self, assignment_id: int, day: date, low: bool = False) -> None:
        uid = self.conn.execute(
            sa.select(t.experts.c.user_id)
            .select_from(t.assignments.join(t.experts, t.experts.c.id == t.assignments.c.expert_id))
            .where(t.assignments.c.id == assignment_id)
        ).scalar_one()
        share = self.rng.uniform(0.45, 0.6) if low else self.rng.uniform(0.72, 0.95)
        scores = {
            "S01": round(30 * share),
            "S02": round(30 * share),
            "S03": round(20 * share),
            "S04": round(20 * share),
        }
        comments = (
            "安全管理资料不完整，临边防护存在缺失，扬尘治理措施落实不到位。"
            if low
            else "现场管理规范，标准化防护设施到位，资料齐全。"
        )
        with common.as_of(self.when(day, 15)):
            reviews.submit(
                self.conn,
                self.principal(uid),
                assignment_id,
                reviews.ReviewIn(scores=scores, comments=comments),
                self.conn,
            )
        self.count("st_reviews")

    def evaluations(self, sites: list[Site]) -> None:
        """A finished round (decided, disclosed), a current one with reviews coming in, applications in the other
        states; the projects complete their acceptance first."""
        city = self.staff[None]
        finished, current, others = ([s for s in sites if s.role == role] for role in ("finished", "current", "other"))
        picks = finished + current + others
        T = self.today
        for s in finished:
            self.complete(s, T - timedelta(days=int(self.rng.integers(100, 115))))
        for s in current:
            self.complete(s, T - timedelta(days=int(self.rng.integers(45, 55))))
        for s in others:
            self.complete(s, T - timedelta(days=int(self.rng.integers(16, 26))))
        for s in picks:  # their monthly reports, up to the completion
            self.monthly_reports(s)
        # The finished round: three recommended (two awarded, one not) and one declined; drawn, reviewed, decided,
        # disclosed.
        first = self.round(
            f"{(T - timedelta(days=60)).year}年第三批标化工地考评",
            T - timedelta(days=62),
            T - timedelta(days=48),
            T - timedelta(days=80),
        )
        applied = []
        for k, s in enumerate(finished):
            until = "not_recommended" if k == 3 else "recommended"
            applied.append((s, self.application(s, s.completion + timedelta(days=5), until)))
        assigned = self.draw(first, T - timedelta(days=64))
        for k, (_, eid) in enumerate(applied[:3]):
            for j, aid in enumerate(assigned.get(eid, [])):
                self.review(aid, T - timedelta(days=60 - 2 * k - j), low=k == 2)
        decided = []
        for k, (s, eid) in enumerate(applied[:3]):
            state = self.conn.execute(sa.select(t.evaluations.c.status).where(t.evaluations.c.id == eid)).scalar()
            if state != "reviewed":
                continue  # too few eligible experts were drawn for it: it waits for a later draw
            with common.as_of(self.when(T - timedelta(days=44), 10 + k)):
                if k == 2:
                    act(self.conn, "st_evaluation", eid, "reject", city, "专家评审平均分低于合格线，不予评定。")
                else:
                    act(self.conn, "st_evaluation", eid, "award", city)
                    decided.append(s)
        self.notice(
            city,
            "disclosure",
            f"{(T - timedelta(days=60)).year}年第三批杭州市建设工程标准化工地考评结果公示",
            "经项目申报、监理初审、属地推荐、专家评审和市建委审定，下列项目拟评为杭州市建设工程标准化工地，现予公示：\n"
            + "\n".join(f"{s.code} {s.name}（{s.district}，施工单位：{s.construction}）" for s in decided)
            + "\n公示期 7 天。对公示结果有异议的，请向市建委质量安全处书面反映。",
            None,
            True,
            T - timedelta(days=42),
        )
        # The current round: three recommended and drawn, reviews coming in (one application fully reviewed).
        second = self.round(
            f"{T.year}年第四批标化工地考评", T - timedelta(days=3), T + timedelta(days=11), T - timedelta(days=20)
        )
        now_applied = [(s, self.application(s, s.completion + timedelta(days=6), "recommended")) for s in current]
        assigned = self.draw(second, T - timedelta(days=4))
        for k, (_, eid) in enumerate(now_applied):
            for j, aid in enumerate(assigned.get(eid, [])):
                if k == 0 or (k == 1 and j == 0):
                    self.review(aid, T - timedelta(days=1))
        for s, until in zip(others, ("draft", "submitted", "returned", "supervision_approved")):
            self.application(s, s.completion + timedelta(days=int(self.rng.integers(3, 8))), until)

    def notice(
        self,
        who: Principal,
        kind: str,
        title: str,
        body: str,
        district: str | None,
        public: bool,
        day: date,
        publish: bool = True,
    ) -> None:
        with common.as_of(self.when(day, 9)):
            notices.create_notice(
                notices.NoticeIn(kind=kind, title=title, body=body, district=district, public=public, publish=publish),
                who=who,
                conn=self.conn,
            )
        self.count("st_notices")

    def notices(self) -> None:
        T, city = self.today, self.staff[None]
        self.notice(
            city,
            "notice",
            f"关于开展{T.year}年度杭州市建设工程标准化工地考评工作的通知",
            "各区、县（市）建设主管部门，各有关单位：\n为进一步提升全市建设工程安全文明施工水平，现开展本年度标准化工地考评工作。"
            "请各在建项目按月通过标化工地系统报送月度申报，竣工验收后及时申报考评。",
            None,
            True,
            T - timedelta(days=300),
        )
        self.notice(
            city,
            "announcement",
            f"{(T.replace(day=1) - timedelta(days=1)):%Y年%m月}标化工地月度申报情况通报",
            "上月全市在建注册项目月度申报总体按期完成，个别项目逾期或未申报，已通报属地主管部门督促整改。",
            None,
            True,
            T - timedelta(days=1),
        )
        xihu = self.staff.get("西湖区") or city
        self.notice(
            xihu,
            "notice",
            "西湖区关于加强冬季施工扬尘治理的通知",
            "辖区各在建工地：进入冬季施工期，请严格落实围挡、覆盖、冲洗、喷淋等扬尘治理措施，并在月度申报中上传相关照片。",
            "西湖区",
            False,
            T - timedelta(days=7),
        )
        self.notice(
            city,
            "notice",
            f"关于{T.year}年第四批标化工地专家现场复核安排的通知（征求意见稿）",
            "拟于评审结束后组织专家对部分项目进行现场复核，具体安排另行通知。",
            None,
            False,
            T - timedelta(days=2),
            publish=False,
        )


_BONUS_TEXT = {
    "B01": "本项目获评浙江省建筑施工安全生产标准化管理优良工地。",
    "B02": "主体结构采用预制叠合板和装配式内隔墙，应用铝合金模板。",
    "B03": "智慧工地平台接入塔吊监控、扬尘监测和实名制考勤，运行正常。",
    "B04": "承办全市建筑施工安全文明标准化现场观摩会。",
}
_DEDUCTION_TEXT = {
    "D01": "施工现场发生一般生产安全事故（高处坠落，一人受伤）。",
    "D02": "扬尘治理不到位，裸土未覆盖，被区治气办通报。",
    "D03": "安全隐患整改通知书下达后逾期未整改。",
    "D04": "经劳动保障监察查实拖欠农民工工资。",
    "D05": "月度申报照片与现场不符，提供虚假申报材料。",
}


@seeder(order=15)
def seed(conn: Connection, world: Any) -> dict:
    """After the site pins (order 10) and the project register built from them (the projects module, order 12): the
    module in use."""
    return seed_flow(conn, world)


def seed_flow(conn: Connection, world: Any) -> dict:
    """The module in use, on the project register."""
    r = Replay(conn, world)
    rows = r.choose()
    r.forget_previous()
    r.organisations()
    r.accounts()
    sites = r.register(rows)
    r.notices()
    r.experts(sites)
    r.evaluations(sites)  # completes ten projects and files their reports first
    done = {id(s) for s in sites if s.completion}
    for s in sites:
        if id(s) not in done:
            r.monthly_reports(s)
    r.bonus(sites)
    r.deductions(sites)
    r.stages(sites)
    stats.refresh_all(conn, r.today, actor="system")  # the pins as of today
    return {k: r.counts[k] for k in sorted(r.counts)}
