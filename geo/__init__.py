"""The spatial core: settings, database, private PostGIS cluster, coordinates, validation."""
