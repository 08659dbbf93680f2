"""The FastAPI app, routers, auth, errors and OGC API Features."""
