"""Mapbox Vector Tiles from PostGIS, TileJSON, style, caching (the tiles issue)."""
