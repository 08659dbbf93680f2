"""Imports, exports, demo data, county/province interfaces, quality audit — and the CLI."""
