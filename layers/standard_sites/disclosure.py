"""What anyone may see without signing in: the verification of a printed evaluation form (ST-09) and the public
disclosure of evaluation results and published notices (ST-22).

``GET /verify/st/{token}`` — the page the QR code on a printed application form opens. The form is genuine when the
token's Ed25519 signature is ours and the digest of the application's CURRENT key fields equals the digest the token
carries; then the key fields are shown. A genuine token whose application changed after printing shows "已被篡改";
anything else (forged, malformed, unknown application) "验证失败：防伪码无效". HTML in Chinese, ``?format=json``
for machines.

``GET /public/st`` (HTML) and ``GET /api/st/public/results`` (JSON) — decided applications (awarded or rejected:
project, district, units, decision, date, final score) and the notices marked public and published. Nothing else:
these read as the system, so every column shown is listed here by name.
"""

from __future__ import annotations

from html import escape

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.errors import ApiError
from geo import signing
from geo.db import transaction
from layers.standard_sites import tables as t
from layers.standard_sites.common import BEIJING, PREFIX
from layers.standard_sites.evaluations import STATES, TOKEN_KIND, fields_digest, key_fields

router = APIRouter(tags=["标化工地公示"])

INVALID = "验证失败：防伪码无效"
TAMPERED = "已被篡改"
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def check(token: str) -> dict:
    """``result``: valid | tampered | invalid, with a Chinese ``message``; the key fields only when valid."""
    invalid = {"valid": False, "result": "invalid", "message": INVALID + "（不是本系统签发的申报表，或二维码已损坏）。"}
    try:
        payload = signing.verify(token)
    except signing.BadSignature:
        return invalid
    eid = payload.get("id")
    if payload.get("t") != TOKEN_KIND or not isinstance(eid, int) or not isinstance(payload.get("d"), str):
        return invalid
    with transaction() as conn:
        row = conn.execute(sa.select(t.evaluations).where(t.evaluations.c.id == eid)).mappings().first()
        if row is None:
            return invalid
        try:
            fields = key_fields(conn, dict(row))
        except ApiError:  # the application's project is gone
            return invalid
    out = {"fingerprint": signing.fingerprint(token), "evaluation_id": eid}
    if fields_digest(fields) != payload["d"]:
        keep = {"项目编号", "项目名称"}
        return {
            **out,
            "valid": False,
            "result": "tampered",
            "message": f"{TAMPERED}：该申报表打印后内容已被修改，与系统中的现行数据不一致，纸质表不可采信。",
            "fields": [{"label": k, "value": v} for k, v in fields if k in keep],
        }
    return {
        **out,
        "valid": True,
        "result": "valid",
        "message": "验证通过：该申报表由本系统签发，内容与系统记录一致。",
        "status": row["status"],
        "status_title": STATES[row["status"]],
        "fields": [{"label": k, "value": v} for k, v in fields],
    }


def page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
body {{ font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 0; background: #f5f6f8;
       color: #1f2937; }}
header {{ background: #1e40af; color: #fff; padding: 14px 20px; font-size: 18px; }}
main {{ max-width: 960px; margin: 0 auto; padding: 16px; }}
section {{ background: #fff; border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
th, td {{ border: 1px solid #e5e7eb; padding: 6px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f4f6; white-space: nowrap; }}
.result {{ font-size: 20px; font-weight: bold; padding: 12px; border-radius: 6px; }}
.valid {{ background: #dcfce7; color: #166534; }} .tampered, .invalid {{ background: #fee2e2; color: #991b1b; }}
.muted {{ color: #6b7280; font-size: 13px; }}
</style></head>
<body><header>杭州市城乡建设委员会 · 标化工地</header><main>{body}</main></body></html>"""


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in pairs)


@router.get("/verify/st/{token}", summary="申报表防伪验证（公开，扫码打开）", response_model=None)
def verify_page(token: str, format: str = Query("html", pattern="^(html|json)$")) -> Response:
    out = check(token)
    if format == "json":
        return JSONResponse(out, headers=HEADERS)
    body = f'<section><h2>考评申报表防伪验证</h2><div class="result {out["result"]}">{escape(out["message"])}</div>'
    if out.get("fields"):
        pairs = [(f["label"], f["value"]) for f in out["fields"]]
        if out.get("status_title"):
            pairs.append(("当前办理状态", out["status_title"]))
        body += f"<h3>申报表主要内容</h3><table>{_rows(pairs)}</table>"
    if out.get("fingerprint"):
        body += f'<p class="muted">防伪码指纹：{escape(out["fingerprint"])}（应与纸质表二维码下方的字符一致）</p>'
    return HTMLResponse(page("申报表防伪验证", body + "</section>"), headers=HEADERS)


def results(district: str | None = None, limit: int = 200) -> dict:
    """The public record, read as the system: only the columns named here, only decided applications and published
    public notices."""
    e, r, p, n = t.evaluations, t.registrations, t.projects, t.notices
    decided_q = (
        sa.select(
            e.c.id,
            e.c.status,
            e.c.decided_at,
            e.c.final_score,
            e.c.form["award"].astext.label("award"),
            p.c.code,
            p.c.name,
            p.c.district,
            p.c.builder_name,
            p.c.construction_name,
            p.c.supervision_name,
        )
        .select_from(e.join(r, r.c.site_id == e.c.site_id).join(p, p.c.id == r.c.project_id))
        .where(e.c.status.in_(("awarded", "rejected")), e.c.decided_at.is_not(None))
        .order_by(e.c.decided_at.desc(), e.c.id.desc())
        .limit(limit)
    )
    notices_q = (
        sa.select(n.c.id, n.c.kind, n.c.title, n.c.body, n.c.district, n.c.published_at)
        .where(n.c.public, n.c.published_at.is_not(None), n.c.published_at <= sa.func.now())
        .order_by(n.c.published_at.desc(), n.c.id.desc())
        .limit(limit)
    )
    if district is not None:
        decided_q = decided_q.where(p.c.district == district)
        notices_q = notices_q.where(sa.or_(n.c.district.is_(None), n.c.district == district))
    with transaction() as conn:
        decided = conn.execute(decided_q).mappings().all()
        notices = conn.execute(notices_q).mappings().all()
    return {
        "results": [
            {
                "project_code": r["code"],
                "project_name": r["name"],
                "district": r["district"],
                "builder": r["builder_name"],
                "construction_unit": r["construction_name"],
                "supervision_unit": r["supervision_name"],
                "award": r["award"],
                "decision": r["status"],
                "decision_title": STATES[r["status"]],
                "decided_on": r["decided_at"].astimezone(BEIJING).date().isoformat(),
                "final_score": r["final_score"],
            }
            for r in decided
        ],
        "notices": [
            {
                "id": n["id"],
                "kind": n["kind"],
                "title": n["title"],
                "body": n["body"],
                "district": n["district"],
                "published_at": n["published_at"].isoformat(),
            }
            for n in notices
        ],
    }


@router.get(f"{PREFIX}/public/results", summary="标化工地考评结果及公告公示（公开）")
def public_results(district: str | None = None, limit: int = Query(200, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse(results(district, limit), headers={"Cache-Control": "no-cache"})


@router.get("/public/st", response_class=HTMLResponse, summary="标化工地公示页面（公开）")
def public_page(district: str | None = None) -> HTMLResponse:
    data = results(district)
    if data["results"]:
        head = (
            "<tr><th>项目编号</th><th>项目名称</th><th>区县</th><th>施工单位</th><th>监理单位</th><th>申报奖项</th>"
            "<th>评定结果</th><th>评定日期</th><th>最终得分</th></tr>"
        )
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{escape(str(v if v is not None else '—'))}</td>"
                for v in (
                    r["project_code"],
                    r["project_name"],
                    r["district"],
                    r["construction_unit"],
                    r["supervision_unit"],
                    r["award"],
                    r["decision_title"],
                    r["decided_on"],
                    f"{r['final_score']:g}" if r["final_score"] is not None else None,
                )
            )
            + "</tr>"
            for r in data["results"]
        )
        table = f"<table>{head}{rows}</table>"
    else:
        table = '<p class="muted">暂无已评定的考评结果。</p>'
    notices = (
        "".join(
            f'<article><h3>{escape(n["title"])}</h3><p class="muted">{escape(n["district"] or "全市")} · '
            f"{escape(n['published_at'][:10])}</p><p>{escape(n['body']).replace(chr(10), '<br>')}</p></article>"
            for n in data["notices"]
        )
        or '<p class="muted">暂无公告。</p>'
    )
    body = f"<section><h2>标化工地考评结果公示</h2>{table}</section><section><h2>通知公告</h2>{notices}</section>"
    return HTMLResponse(page("标化工地公示", body), headers={"Cache-Control": "no-cache"})
