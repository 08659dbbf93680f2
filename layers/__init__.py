"""Layers: each business module declares its layers (and optional routers) in a module here."""
from layers.registry import Attr, Layer, Style, registry, register

__all__ = ["Attr", "Layer", "Style", "registry", "register"]
