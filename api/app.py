"""The FastAPI application factory: the api's own routers, then every business module's ``router`` and ``on_app(app)``
hook, as discovered by ``geo.modules`` (the app names no module)."""

from __future__ import annotations

import importlib

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import errors
from api.limits import BodyLimit
from api.params import RefuseControlCharacters, check_integers
from geo import audit, leakproof, modules
from geo.cluster import ClusterError
from geo.db import get_engine
from geo.settings import get_settings, read_all

# Routers of the api package itself (the services every layer gets), mounted in this order.
API_ROUTERS = (
    "features",
    "ogc",
    "transfer",
    "tiles",
    "geofence",
    "web",
    "search",
    "signin",
    "sso",
    "cases",
    "admin",
    "tasks",
    "records",
    "calendar",
)


class RecordClient:
    """Remember the request's client address for the operation log (geo.audit.CLIENT)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = audit.CLIENT.set((scope.get("client") or (None,))[0])
        try:
            await self.app(scope, receive, send)
        finally:
            audit.CLIENT.reset(token)


def create_app() -> FastAPI:
    # The interactive docs are served from vendored files (api/web.py), not FastAPI's CDN: the intranet has none.
    app = FastAPI(
        title="城建 GIS 平台",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(check_integers)],  # every route's declared integers fit a bigint (api/params.py)
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    app.add_middleware(RefuseControlCharacters)  # no NUL or other control character in a path or query parameter
    app.add_middleware(RecordClient)

    @app.get("/healthz", tags=["ops"])
    def healthz():
        try:
            with get_engine().connect() as conn:
                postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
        except Exception as e:  # the database is down or unreachable
            return JSONResponse({"status": "error", "database": "down", "reason": type(e).__name__}, status_code=503)
        return {"status": "ok", "database": "up", "postgis": postgis}

    for name in API_ROUTERS:
        app.include_router(importlib.import_module(f"api.{name}").router)
    for router in modules.collect("router"):
        app.include_router(router)
    read_all()  # the modules are discovered, so every settings class is declared: a bad value stops the app here
    for on_app in modules.collect("on_app"):  # a module's own start-up work
        on_app(app)
    try:  # one WARNING when a PostGIS update or a restore dropped the LEAKPROOF flag (geo/leakproof.py)
        leakproof.warn_if_missing(get_engine())
    except ClusterError:  # the private cluster was never started: /healthz says the database is down
        pass
    return app
