"""The layer registry: every mapped thing is declared here once.

A declaration says which table holds the layer, its geometry type, its attributes
(with Chinese labels and types), its default style, zoom range, popup and
search fields, and which permissions view or edit it. Every endpoint — features,
OGC API, tiles, style, legend, search, import/export — reads these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

from geo.bounds import Shape, Window

SRID = 4326  # storage CRS (WGS84; CGCS2000 differs by centimetres and is converted on input)
TILE_SRID = 3857

ATTR_TYPES: dict[str, Any] = {
    "text": sa.Text,
    "int": sa.BigInteger,
    "float": sa.Float,
    "date": sa.Date,
    "datetime": sa.DateTime(timezone=True),
    "bool": sa.Boolean,
    "json": JSONB,  # case fields only (geo/cases.py): a layer's attributes are plain values
}
JSON_TYPES = {
    "json": "object",
    "text": "string",
    "int": "integer",
    "float": "number",
    "date": "string",
    "datetime": "string",
    "bool": "boolean",
}

# Geometry types a layer may declare, and which input types are accepted for it
# (a Polygon is promoted to MultiPolygon, and so on).
ACCEPTS = {
    "Point": {"Point"},
    "LineString": {"LineString"},
    "MultiLineString": {"LineString", "MultiLineString"},
    "Polygon": {"Polygon"},
    "MultiPolygon": {"Polygon", "MultiPolygon"},
}


@dataclass(frozen=True)
class Attr:
    name: str
    label: str  # Chinese label shown in the UI, popups and exports
    type: str = "text"
    required: bool = False
    choices: tuple[str, ...] | None = None
    searchable: bool = False  # matched by the full-text ``q`` parameter
    filterable: bool = False  # usable as ``?name=value`` filter
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    read_only: bool = False  # computed by the server, never written by clients
    window: Window = Window()  # date and datetime attributes: the dates allowed (geo/bounds.py)
    shape: Shape | None = None  # text attributes: the shape of a code (geo/bounds.py)

    def __post_init__(self) -> None:
        if self.type not in ATTR_TYPES:
            raise ValueError(f"{self.name}: unknown attribute type {self.type}")
        if self.shape is not None and self.type != "text":
            raise ValueError(f"{self.name}: a shape is for text attributes")
        if self.shape is not None and self.max_length is None:
            object.__setattr__(self, "max_length", self.shape.max_length)

    def json_schema(self) -> dict:
        s: dict[str, Any] = {"type": JSON_TYPES[self.type], "title": self.label}
        if self.type == "date":
            s["format"] = "date"
        if self.type == "datetime":
            s["format"] = "date-time"
        if self.choices:
            s["enum"] = list(self.choices)
        if self.max_length:
            s["maxLength"] = self.max_length
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        if self.type in ("date", "datetime"):
            s["formatMinimum"] = self.window.earliest.isoformat()
            s["formatMaximum"] = self.window.latest().isoformat()
        if self.read_only:
            s["readOnly"] = True
        return s


@dataclass(frozen=True)
class Style:
    """Default map style: one colour, or a colour per value of one attribute."""

    color: str = "#3b82f6"
    color_by: str | None = None
    colors: dict[str, str] = field(default_factory=dict)
    radius: float = 4
    width: float = 2
    opacity: float = 0.8
    outline: str = "#1f2937"
    # Point layers: a boolean attribute whose true features are ringed in ``ring_color`` (say, overdue ones), over
    # whatever colour ``color_by`` gives them.
    ring_by: str | None = None
    ring_color: str = "#dc2626"

    def color_expression(self) -> Any:
        if not self.color_by:
            return self.color
        expr: list[Any] = ["match", ["get", self.color_by]]
        for value, color in self.colors.items():
            expr += [value, color]
        return expr + [self.color]

    def legend(self) -> list[dict]:
        if not self.color_by:
            return [{"value": None, "color": self.color}]
        return [{"value": v, "color": c} for v, c in self.colors.items()]


@dataclass(frozen=True)
class Layer:
    id: str
    title: str  # Chinese name of the layer
    module: str  # the business module that owns it
    group: str  # Chinese group title in the layer panel
    geometry: str  # one of ACCEPTS
    attrs: tuple[Attr, ...]
    style: Style = Style()
    minzoom: int = 0
    maxzoom: int = 22
    popup: tuple[str, ...] = ()
    label: str | None = "name"  # attribute used as the feature's display name
    view: str | None = None  # permission needed to see it; None: everyone
    edit: str = "admin"  # permission needed to change it
    order: int = 100  # legend / drawing order (lower is drawn first)
    table: str = ""
    # Point layers only: below this zoom, tiles carry one aggregated point per grid cell (count, counts by
    # style.color_by value) instead of the features; None: always the features.
    cluster_maxzoom: int | None = None
    # Its records can be granted one by one to an account (row-level security opens them and what hangs off them).
    grantable: bool = False
    # Reference data (administrative divisions): not business records; kept by resets, drawn as boundaries.
    reference: bool = False
    # What to tell users while the layer holds no features: where its data comes from and how to load it (shown
    # by the map's layer panel, ``GET /api/layers`` and the OGC collection). Empty: nothing to say.
    empty_hint: str = ""

    def __post_init__(self) -> None:
        if self.geometry not in ACCEPTS:
            raise ValueError(f"{self.id}: unknown geometry {self.geometry}")
        if not self.table:
            object.__setattr__(self, "table", self.id)
        names = [a.name for a in self.attrs]
        if any(a.type == "json" for a in self.attrs):
            raise ValueError(f"{self.id}: json attributes are for cases, not layers")
        if len(names) != len(set(names)):
            raise ValueError(f"{self.id}: duplicate attribute")
        for name in self.popup:
            if name not in names:
                raise ValueError(f"{self.id}: popup field {name} is not an attribute")
        if self.cluster_maxzoom is not None and self.geometry != "Point":
            raise ValueError(f"{self.id}: cluster_maxzoom is for point layers")
        ring = self.style.ring_by
        if ring is not None and (self.geometry != "Point" or ring not in names or self.attr(ring).type != "bool"):
            raise ValueError(f"{self.id}: style.ring_by must be a bool attribute of a point layer")

    # -- derived -----------------------------------------------------------
    def attr(self, name: str) -> Attr:
        for a in self.attrs:
            if a.name == name:
                return a
        raise KeyError(name)

    @cached_property
    def attr_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attrs)

    @property
    def searchable(self) -> tuple[Attr, ...]:
        return tuple(a for a in self.attrs if a.searchable)

    @property
    def filterable(self) -> tuple[Attr, ...]:
        return tuple(a for a in self.attrs if a.filterable)

    @property
    def writable(self) -> tuple[Attr, ...]:
        return tuple(a for a in self.attrs if not a.read_only)

    @property
    def permission_prefix(self) -> str:
        """``farmhouse`` of ``farmhouse.view``: the named actions of this layer share it."""
        return (self.view or self.edit).split(".")[0]

    @property
    def export_permission(self) -> str:
        return f"{self.permission_prefix}.export"

    @property
    def import_permission(self) -> str:
        return f"{self.permission_prefix}.import"

    @property
    def kind(self) -> str:
        """MapLibre layer type: circle, line or fill."""
        return {"Point": "circle", "LineString": "line", "MultiLineString": "line"}.get(self.geometry, "fill")

    @cached_property
    def sa_table(self) -> sa.Table:
        cols = [
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("geom", Geometry(self.geometry, srid=SRID, spatial_index=False), nullable=False),
            sa.Column("geom_3857", Geometry(self.geometry, srid=TILE_SRID, spatial_index=False), sa.Computed("")),
            *(sa.Column(a.name, ATTR_TYPES[a.type]) for a in self.attrs),
            sa.Column("created_at", sa.DateTime(timezone=True)),
            sa.Column("created_by", sa.Text),
            sa.Column("updated_at", sa.DateTime(timezone=True)),
            sa.Column("updated_by", sa.Text),
            sa.Column("deleted_at", sa.DateTime(timezone=True)),
            sa.Column("deleted_by", sa.Text),
        ]
        return sa.Table(self.table, sa.MetaData(), *cols)

    def schema(self) -> dict:
        """The public description served by ``GET /api/layers``."""
        return {
            "id": self.id,
            "title": self.title,
            "module": self.module,
            "group": self.group,
            "geometry_type": self.geometry,
            "accepts_geometry_types": sorted(ACCEPTS[self.geometry]),
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "cluster_maxzoom": self.cluster_maxzoom,
            "popup": list(self.popup),
            "label": self.label,
            "searchable": [a.name for a in self.searchable],
            "filterable": [a.name for a in self.filterable],
            "permissions": {
                "view": self.view,
                "edit": self.edit,
                "import": self.import_permission,
                "export": self.export_permission,
            },
            "order": self.order,
            "empty_hint": self.empty_hint or None,
            "properties": {
                "type": "object",
                "required": [a.name for a in self.attrs if a.required],
                "properties": {a.name: a.json_schema() for a in self.attrs},
            },
            "style": {
                "type": self.kind,
                "color": self.style.color_expression(),
                "color_by": self.style.color_by,
                "legend": self.style.legend(),
                "radius": self.style.radius,
                "width": self.style.width,
                "opacity": self.style.opacity,
                "outline": self.style.outline,
                "ring_by": self.style.ring_by,
                "ring_color": self.style.ring_color if self.style.ring_by else None,
            },
        }


class Registry:
    def __init__(self) -> None:
        self._layers: dict[str, Layer] = {}
        self._loaded = False

    def register(self, *layers: Layer) -> None:
        for layer in layers:
            if layer.id in self._layers:
                raise ValueError(f"layer {layer.id} declared twice")
            self._layers[layer.id] = layer

    def _load(self) -> None:
        """Discover the business modules once; importing them registers their layers."""
        if self._loaded:
            return
        self._loaded = True
        from geo import modules

        modules.discover()

    def get(self, layer_id: str) -> Layer | None:
        self._load()
        return self._layers.get(layer_id)

    def all(self) -> list[Layer]:
        self._load()
        return sorted(self._layers.values(), key=lambda lyr: (lyr.order, lyr.id))

    def grantable(self) -> list[Layer]:
        """Layers whose records are granted one by one to an account (a unit's project, an expert's site)."""
        return [lyr for lyr in self.all() if lyr.grantable]

    def business(self) -> list[Layer]:
        """Every layer but the reference data (administrative divisions)."""
        return [lyr for lyr in self.all() if not lyr.reference]


registry = Registry()
register = registry.register
