"""Export of a thematic map as PNG or PDF: the viewer's print layout (``/thematic/{slug}?print=1``: title, map,
legend, headline figures, scale bar, north arrow, date) rendered by headless Chromium.

Why Chromium rather than ``folium``: folium writes an HTML page for a browser — it makes no PNG or PDF by itself
(its ``_to_png`` drives a browser through Selenium) and draws on Leaflet with web tile servers, which the intranet
does not reach. Chromium is already the project's renderer (``webmap/screenshot.py``, the browser tests), draws the
very page a user shares — the same MapLibre layers, vector tiles and legend, so the export cannot drift from the
viewer — and prints a real PDF with selectable text (``page.pdf``). The browser carries the requester's own
credentials (its ``Authorization`` header or session cookie, for GET requests only), so the export shows exactly
what the requester's data scope shows.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi import Request

from api.errors import ApiError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PNG_SIZE = (1600, 1000)
PDF_SIZE = (1123, 794)  # A4 landscape at 96 dpi: the page the PDF prints on, one sheet
TIMEOUT_MS = 60_000


def own_address(request: Request) -> str:
    """This server as the connection reached it (the socket's local address, never the client's Host header: the
    browser carries the requester's credentials and must only ever talk to this server)."""
    server = request.scope.get("server")
    if not server:
        raise ApiError(503, "export_unavailable", "导出服务暂不可用（无法确定本服务地址）。", None)
    host, port = server
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def render(request: Request, slug: str, fmt: str) -> bytes:
    from playwright.sync_api import Error, sync_playwright

    base = own_address(request)
    width, height = PNG_SIZE if fmt == "png" else PDF_SIZE
    headers = {}
    if request.headers.get("authorization"):
        headers["Authorization"] = request.headers["authorization"]
    cookies = [
        {"name": name, "value": morsel.value, "url": base}
        for name, morsel in SimpleCookie(request.headers.get("cookie", "")).items()
    ]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(
                    viewport={"width": width, "height": height}, locale="zh-CN", extra_http_headers=headers
                )
                if cookies:
                    context.add_cookies(cookies)
                page = context.new_page()
                page.goto(f"{base}/thematic/{slug}?print=1&format={fmt}")
                page.wait_for_function("document.body.dataset.ready === 'true'", timeout=TIMEOUT_MS)
                if page.evaluate("document.body.dataset.error || ''"):
                    raise ApiError(409, "export_failed", page.evaluate("document.body.dataset.error"), None)
                if fmt == "png":
                    return page.screenshot(type="png")
                return page.pdf(width=f"{width}px", height=f"{height}px", print_background=True)
            finally:
                browser.close()
    except Error as e:
        raise ApiError(
            503,
            "export_unavailable",
            "导出服务暂不可用（无法启动浏览器渲染地图），请稍后再试。",
            None,
            {"error": str(e)[:200]},
        )
