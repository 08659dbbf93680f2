"""Demo data of the farmhouse archives: six 杭派民居 gallery images (drawn here with Pillow — white walls, dark tiled
roofs, stepped horse-head gables — no photograph is shipped) with their captions, and the city's report requests
(要求上报) as of the demo's reference date: one fulfilled by push, one fulfilled by entry after its deadline (late),
one open and one overdue (a county without a system of its own)."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import numpy as np
import sqlalchemy as sa
from PIL import Image, ImageDraw

from etl.demo import REF_DATE, World
from geo.modules import seeder
from layers.villages.gallery import add_image, gallery
from layers.villages.requests import requests

IMAGES = (
    ("粉墙黛瓦", "桐庐县江南镇", "白色粉墙配青黑小瓦，杭派民居最常见的外观。"),
    ("马头墙", "淳安县浪川乡", "阶梯状的马头墙既防火又挡风，是徽派与杭派民居共有的符号。"),
    ("坡屋顶与檐廊", "临安区太湖源镇", "双坡屋顶出檐深远，檐下设廊，适应江南多雨的气候。"),
    ("临水而居", "富阳区新登镇", "沿溪布置的院落式民居，前街后河。"),
    ("新杭派农房", "余杭区径山镇", "按《杭州市农村住房设计图集》建成的新杭派农房，保留坡顶与白墙。"),
    ("院落组团", "建德市大慈岩镇", "三五户围合成组团，共享晒场与公共空间。"),
)
REQUESTS = (
    # district, township, status, title, deadline (days from the reference date), fulfilled (days), method, note
    ("萧山区", None, None, "报送三季度新增农房数据", -40, -45, "push", "已通过区县农房系统接口推送。"),
    ("余杭区", "径山镇", "在建", "报送径山镇在建农房进度", -20, -12, "entry", "逾期补报：已在市级系统补录。"),
    ("西湖区", None, "在建", "报送在建农房的批后监管情况", 14, None, None, None),
    ("淳安县", None, None, "报送全县存量农房档案", -5, None, None, None),
)


def house_image(seed: int) -> bytes:
    """A drawing of a village-style house: sky, hills, a white wall, a dark roof, stepped gables, door, windows."""
    rng = np.random.default_rng(seed)
    w, h = 960, 600
    im = Image.new("RGB", (w, h), (214, 228, 236))
    d = ImageDraw.Draw(im)
    hills = [(0, 330)] + [
        (x, int(300 - 60 * np.sin(x / 150 + seed) - rng.integers(0, 30))) for x in range(0, w + 1, 80)
    ]
    d.polygon([*hills, (w, 330), (w, h), (0, h)], fill=(128, 160, 128))
    d.rectangle([(0, 470), (w, h)], fill=(170, 160, 140))
    left, right = 150 + int(rng.integers(0, 80)), 810 - int(rng.integers(0, 80))
    top, base = 250, 480
    d.rectangle([(left, top), (right, base)], fill=(246, 246, 242), outline=(120, 120, 120))
    mid = (left + right) // 2
    d.polygon([(left - 30, top + 10), (mid, top - 90), (right + 30, top + 10)], fill=(48, 52, 60))
    for x0 in (left - 10, right - 50):  # stepped horse-head gables
        for k in range(3):
            d.rectangle([(x0, top - 40 - 30 * k + 60), (x0 + 60, top - 20 - 30 * k + 60)], fill=(246, 246, 242))
            d.rectangle([(x0 - 6, top - 46 - 30 * k + 60), (x0 + 66, top - 38 - 30 * k + 60)], fill=(40, 42, 48))
    d.rectangle([(mid - 35, base - 120), (mid + 35, base)], fill=(112, 72, 42))
    for x in (left + 60, right - 130):
        d.rectangle([(x, top + 60), (x + 70, top + 120)], fill=(70, 84, 96), outline=(40, 40, 40))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@seeder(order=32)
def seed_archives(conn, world: World) -> dict:
    images = 0
    for i, (title, place, caption) in enumerate(IMAGES):
        data = house_image(i)
        sha = hashlib.sha256(data).hexdigest()
        if conn.execute(sa.select(gallery.c.id).where(gallery.c.sha256 == sha)).scalar() is None:
            add_image(conn, "demo", data, f"hangpai-{i + 1}.jpg", title, caption, place, (i + 1) * 10)
            images += 1
    ref = REF_DATE.astype("datetime64[D]").item()
    rows = []
    for district, township, status, title, due, done, method, note in REQUESTS:
        deadline = ref + timedelta(days=due)
        made = deadline - timedelta(days=30)
        rows.append({
            "district": district, "township": township, "status": status, "title": title, "note": None,
            "deadline": deadline, "created_at": made, "created_by": "demo", "updated_by": "demo",
            "fulfilled_at": ref + timedelta(days=done) if done is not None else None,
            "fulfilled_by": "demo" if done is not None else None, "method": method, "fulfilment_note": note,
            "changed": int(world.rng("vil-requests").integers(5, 80)) if done is not None else None,
        })  # fmt: skip
    conn.execute(sa.delete(requests).where(requests.c.created_by == "demo"))  # a reloaded demo: the same requests
    conn.execute(sa.insert(requests), rows)
    return {"vil_gallery": images, "vil_report_requests": len(rows)}
