def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "up"


def test_api_docs_are_served_without_a_cdn(client):
    """The intranet reaches no CDN: Swagger UI and its assets come from this server (webmap/vendor.sh)."""
    import re

    page = client.get("/api/docs")
    assert page.status_code == 200 and "城建" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *['"]([^'"]+)['"]""", page.text)
    urls = [u for pair in urls for u in pair if u]
    assert urls and not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    for u in urls:
        if u.startswith("/static/"):
            assert client.get(u).status_code == 200, u
    assert client.get("/api/openapi.json").json()["info"]["title"] == "城建 GIS 平台"
    r = client.get("/docs", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/api/docs"


def test_the_menu_offers_each_module_page_to_whoever_may_open_it(client):
    """The modules declare their pages (``geo.modules.pages``); the menus show the ones the caller may open, and
    every one of them answers."""
    from tests.conftest import ADMIN

    anonymous = [p["path"] for p in client.get("/api/pages").json()["pages"]]
    admin = {p["path"]: p for p in client.get("/api/pages", headers=ADMIN).json()["pages"]}
    registers = {"/registers/projects", "/registers/enterprises", "/registers/persons", "/registers/credit",
                 "/registers/matters"}  # fmt: skip
    assert registers <= set(admin) and not registers & set(anonymous)
    assert {"/st", "/m", "/screen/map"} <= set(anonymous) and "/thematic/edit" not in anonymous
    assert (
        admin["/registers/enterprises"]["title"] == "企业库" and admin["/registers/enterprises"]["group"] == "数据中心"
    )
    for path in admin:
        assert client.get(path, headers=ADMIN).status_code == 200, path
