"""The FastAPI application factory."""
from __future__ import annotations

import importlib

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import errors
from api.limits import BodyLimit
from geo.db import get_engine
from geo.settings import get_settings
from layers.registry import registry

# Routers of the api package, mounted in this order; layer modules add their own `router`.
API_ROUTERS = ("features", "ogc", "transfer", "tiles", "geofence", "web", "search", "accounts.routes", "accounts.oidc", "admin")


def create_app() -> FastAPI:
    app = FastAPI(title="城建 GIS 平台", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)

    @app.get("/healthz", tags=["ops"])
    def healthz():
        try:
            with get_engine().connect() as conn:
                postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
        except Exception as e:  # the database is down or unreachable
            return JSONResponse({"status": "error", "database": "down", "reason": type(e).__name__},
                                status_code=503)
        return {"status": "ok", "database": "up", "postgis": postgis}

    for name in API_ROUTERS:
        app.include_router(importlib.import_module(f"api.{name}").router)
    for module in registry.modules():
        if hasattr(module, "router"):
            app.include_router(module.router)
    return app
