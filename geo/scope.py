"""Data scope: which records a principal may see and change, stated to PostgreSQL per transaction.

Row-level security (migration 0005, ``chengjian_scope_ok``) reads three kinds of transaction settings:

- ``chengjian.scope`` = ``all`` sees every record;
- ``chengjian.districts`` = ``西湖区,滨江区`` sees the records of those districts;
- ``chengjian.grants_<layer>`` = ``12,40`` sees those records of the layer and the records linked to them
  (the ``sites`` grant also opens the site's fences and, later, its reports).

A connection that states nothing sees nothing. ``apply`` states a scope for the current transaction (``SET LOCAL``
semantics); ``apply_session`` for the whole session, used by the autocommit tile pool, which remembers what it set
on each connection so that a pooled connection never keeps the previous principal's scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa


@lru_cache(maxsize=1)
def grant_layers() -> tuple[str, ...]:
    """Layers whose records can be granted one by one (declared ``grantable``); each one's setting is reset on every
    apply, so a pooled connection never keeps another principal's grants."""
    from geo.layer.registry import registry

    return tuple(lyr.id for lyr in registry.grantable())


@dataclass(frozen=True)
class Scope:
    all: bool = False
    districts: tuple[str, ...] = ()
    grants: tuple[tuple[str, tuple[int, ...]], ...] = field(default=())

    @classmethod
    def of(cls, all: bool = False, districts=(), grants: dict[str, Any] | None = None) -> Scope:
        g = tuple(
            sorted((layer, tuple(sorted(set(int(i) for i in ids)))) for layer, ids in (grants or {}).items() if ids)
        )
        return cls(all, tuple(sorted(set(d for d in districts if d))), g)

    def granted(self, layer: str) -> tuple[int, ...]:
        return dict(self.grants).get(layer, ())

    @property
    def empty(self) -> bool:
        return not self.all and not self.districts and not self.grants

    def key(self) -> str:
        """A short text that differs between scopes (caches key on it)."""
        if self.all:
            return "all"
        parts = ["d:" + ",".join(self.districts)] + [
            f"{layer}:" + ",".join(map(str, ids)) for layer, ids in self.grants
        ]
        return "|".join(parts)

    def settings(self) -> dict[str, str]:
        out = {
            "chengjian.scope": "all" if self.all else "limited",
            "chengjian.districts": "" if self.all else ",".join(self.districts),
        }
        granted = dict(self.grants)
        for layer in grant_layers():
            out[f"chengjian.grants_{layer}"] = "" if self.all else ",".join(map(str, granted.get(layer, ())))
        return out

    def describe(self) -> str:
        """In Chinese, for error messages."""
        if self.all:
            return "全市"
        parts = []
        if self.districts:
            parts.append("、".join(self.districts))
        if self.grants:
            parts.append("本单位参与的项目")
        return "，".join(parts) or "无"


SYSTEM = Scope(all=True)  # the CLI, migrations, scheduled jobs
NOTHING = Scope()


def _set_sql(local: bool) -> str:
    return "SELECT " + ", ".join(
        f"set_config(:k{i}, :v{i}, {'true' if local else 'false'})" for i in range(2 + len(grant_layers()))
    )


def _params(scope: Scope) -> dict[str, str]:
    out = {}
    for i, (k, v) in enumerate(scope.settings().items()):
        out[f"k{i}"], out[f"v{i}"] = k, v
    return out


def apply(conn: sa.Connection, scope: Scope) -> None:
    """State ``scope`` for the connection's current transaction (it begins one if none is open)."""
    conn.execute(sa.text(_set_sql(True)), _params(scope))


def apply_session(cursor, info: dict, scope: Scope) -> None:
    """State ``scope`` for a DB-API connection's session, unless it already holds it (``info`` remembers)."""
    key = scope.key()
    if info.get("chengjian_scope") == key:
        return
    sql = "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in scope.settings())
    args: list[str] = []
    for k, v in scope.settings().items():
        args += [k, v]
    cursor.execute(sql, args)
    info["chengjian_scope"] = key


def current_key(conn: sa.Connection) -> str:
    """The scope the connection's transaction states (caches of scoped reads key on it)."""
    names = list(Scope().settings())
    row = conn.execute(
        sa.text("SELECT " + ", ".join(f"current_setting(:n{i}, true)" for i in range(len(names)))),
        {f"n{i}": n for i, n in enumerate(names)},
    ).one()
    return "|".join(v or "" for v in row)


def districts_in_scope(conn: sa.Connection, scope: Scope) -> frozenset[str] | None:
    """The districts whose records a scope reaches, for district pickers: None for every district (scope ``all``, or a
    scope stating neither a district nor a grant — an anonymous visitor sees the public layers everywhere); else the
    scope's districts and those of its granted records (read on ``conn``, whose row-level security shows exactly them)."""
    if scope.all or scope.empty:
        return None
    from geo.layer.registry import registry

    names = set(scope.districts)
    for layer_id, ids in scope.grants:
        layer = registry.get(layer_id)
        table = layer.sa_table if layer is not None else None
        if table is not None and "district" in table.c:
            rows = conn.execute(sa.select(table.c.district).where(table.c.id.in_(ids)).distinct()).scalars()
            names.update(d for d in rows if d)
    return frozenset(names)
