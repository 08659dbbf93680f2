"""The browser side: the MapLibre map, ECharts, mobile pages (the tiles/map issue)."""
