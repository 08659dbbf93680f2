"""Screenshot of the map for docs/map.png: the whole city with every layer, 1280×800.

Run against a running app (``make run``, i.e. the demo data and anonymous read access)::

    .venv/bin/python -m webmap.screenshot [--url http://127.0.0.1:8000] [--out docs/map.png]

Uses Debian's Chromium through Playwright, as tests/test_browser.py does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
IDLE = """new Promise(r => { const m = window.chengjianMap;
    m.once('idle', () => r(true)); m.triggerRepaint(); setTimeout(() => r(false), 30000); })"""


def screenshot(url: str, out: Path, width: int = 1280, height: int = 800) -> list[str]:
    """Writes the screenshot; returns the console errors seen (none expected)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url.rstrip("/") + "/")
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
        if not page.evaluate(IDLE):
            errors.append("the map did not settle within 30 s")
        page.screenshot(path=str(out))
        browser.close()
    return errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "map.png")
    args = ap.parse_args()
    errors = screenshot(args.url, args.out)
    print(f"{args.out}: written" + (f"; console errors: {errors}" if errors else ""))
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
