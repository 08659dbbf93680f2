"""The personnel register's back-office page at ``/registers/persons`` (web/persons/ in this module): a public
page, left out of the API description; what it shows comes from ``/api/registers/persons`` with the session."""

from __future__ import annotations

from pathlib import Path

from api.web import RegisterShell, page_router

PAGES_DIR = Path(__file__).resolve().parent / "web" / "persons"

router = page_router(
    "/registers/persons",
    PAGES_DIR,
    RegisterShell(
        name="人员库",
        permission="查看数据中心名录库",
        style="persons.css",
        script="persons.js",
        note="身份证号、手机号为个人信息，默认脱敏显示；持有「查看个人信息明文」权限的人员可在详情中查看明文，每次查看记入操作日志。",
    ),
)
