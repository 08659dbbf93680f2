"""``chengjian import`` and ``chengjian export``: the layer core's importer and exporter with a report, a progress bar
and exit codes, acting as the schema owner."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from geo.db import admin_engine
from geo.layer import store
from geo.layer.attributes import AttrError
from geo.layer.exporter import export
from geo.layer.importer import ImportFileError, check, commit_import, read_file, summary_text
from geo.layer.registry import registry
from geo.settings import get_settings


def import_file_cli(
    path: str,
    layer_id: str,
    commit: bool = True,
    crs: str | None = "EPSG:4326",
    actor: str = "cli",
    lon: str | None = None,
    lat: str | None = None,
    repair: bool = False,
) -> int:
    """``chengjian import``: print the report, copy with a progress bar; 0 on success, 1 otherwise."""
    layer = registry.get(layer_id)
    if layer is None:
        print(f"图层「{layer_id}」不存在。可选：{', '.join(lyr.id for lyr in registry.all())}", file=sys.stderr)
        return 1
    margin = get_settings().hangzhou_margin_deg
    try:
        src = read_file(path, None, layer, crs, lon, lat)
        with admin_engine().begin() as conn:  # the CLI acts as the schema owner
            checked = check(conn, layer, src, repair=repair, margin=margin)
            print(summary_text(checked.report))
            if not checked.ok:
                print("有未通过检查的行，未导入任何数据。请修改文件后重新导入。")
                return 1
            if not commit:
                print("试导入（--dry-run）：未写入数据。")
                return 0
            with tqdm(total=len(src), unit="行", desc="导入", file=sys.stderr) as bar:
                done = commit_import(conn, layer, checked, actor, src.filename, bar.update)
    except ImportFileError as e:
        print(f"导入失败：{e.message}", file=sys.stderr)
        return 1
    print(f"已导入 {done['rows']} 行（要素 ID {done['first_id']}–{done['last_id']}）。")
    return 0


def export_cli(
    layer_id: str, fmt: str, output: str | None, filters: dict[str, str] | None = None, actor: str = "cli"
) -> int:
    """``chengjian export``: write the file; 0 on success, 1 on a bad layer or filter."""
    layer = registry.get(layer_id)
    if layer is None:
        print(f"图层「{layer_id}」不存在。可选：{', '.join(lyr.id for lyr in registry.all())}", file=sys.stderr)
        return 1
    try:
        query = store.Query(filters=store.parse_filters(layer, filters or {}), limit=None)
    except AttrError as e:
        print(f"筛选条件有误：{e.message}", file=sys.stderr)
        return 1
    with (
        admin_engine().begin() as conn
    ):  # the CLI acts as the schema owner; the audit entry stands only if the file was written
        result = export(conn, layer, query, fmt, actor)
        path = Path(output or result.filename)
        path.write_bytes(result.data)
    print(f"已导出图层「{layer.title}」{result.rows} 条记录到 {path}")
    for note in result.notes:
        print(f"注意：{note}")
    return 0
