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
