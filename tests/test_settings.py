"""One place for settings: every variable is a field of a settings class (geo/settings.py, or a module's own class
registered through it), README.md's settings table lists exactly those, and no other code reads the environment."""

from __future__ import annotations

import ast
import os
import re
from typing import Literal

import pytest
from pydantic_settings import SettingsConfigDict

from geo import modules
from geo.settings import (
    ROOT,
    ModuleSettings,
    Settings,
    SettingsError,
    classes,
    env_names,
    get_settings,
    module_settings,
    variables,
)

# The packages whose code may read settings only through geo/settings.py.
PACKAGES = ("geo", "tiles", "api", "etl", "layers", "webmap")
SETTINGS_FILE = "geo/settings.py"  # the one place that reads the environment (through pydantic-settings)

# Variables still read outside geo/settings.py, with the one file allowed to read each (once).
# CHENGJIAN_JOBS: layers/standard_sites/jobs.py's in-app loop, which a task queue replaces in parallel work; the
# loop, its variable and this entry go together (README.md may list the variable while the file reads it).
UNDECLARED = {"CHENGJIAN_JOBS": "layers/standard_sites/jobs.py"}

ENV_READERS = {"environ", "environb", "getenv", "getenvb"}


# ---------------------------------------------------------------- the README table


def readme_rows() -> list[list[str]]:
    """The variables of each row of README.md's settings table (backticked in the first column)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 3 or set(cells[1]) <= set("- "):
            continue
        names = re.findall(r"`([^`]*)`", cells[1])
        if names:
            rows.append(names)
    return rows


def project_classes() -> list[type]:
    """Every settings class of the project (tests may declare their own, which the README does not list)."""
    modules.discover()  # importing the modules declares their settings classes
    return [cls for cls in classes() if cls.__module__.split(".")[0] in PACKAGES]


def test_readme_lists_every_variable_and_no_other():
    listed = [name for row in readme_rows() for name in row]
    assert len(listed) > 40, "README.md's settings table was not found"
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    declared = {name for cls in project_classes() for name in env_names(cls)}
    missing = [
        f"{cls.__module__}.{cls.__qualname__}.{field} ({' or '.join(env_names(cls, field))})"
        for cls in project_classes()
        for field in cls.model_fields
        if not set(env_names(cls, field)) & set(listed)
    ]
    assert not missing, "settings missing from README.md's settings table: " + ", ".join(missing)
    unknown = [name for name in listed if name not in declared and name not in UNDECLARED]
    assert not unknown, f"README.md lists variables no settings class reads: {unknown}"


def test_the_modules_declare_their_settings_through_the_core():
    found = project_classes()
    assert found[0] is Settings
    st = next(cls for cls in found if cls.__module__ == "layers.standard_sites.settings")
    assert set(env_names(st)) == {
        "CHENGJIAN_ST_OUTSIDE_FENCE",
        "CHENGJIAN_ST_REPORT_DUE_DAY",
        "CHENGJIAN_ST_COMMENTS_BELOW",
    }
    assert variables()["CHENGJIAN_TILE_CACHE_MB"] is Settings and variables()["DATABASE_URL"] is Settings


# ---------------------------------------------------------------- nobody else reads the environment


def env_reads(source: str) -> list[tuple[int, str | None]]:
    """Where ``source`` reads the environment through ``os`` (``os.environ``, ``os.getenv``, … under any import
    name): (line, the variable's name when it is a literal)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    os_names, direct = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os" or (alias.name.startswith("os.") and alias.asname is None):
                    os_names.add(alias.asname or "os")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            direct |= {alias.asname or alias.name for alias in node.names if alias.name in ENV_READERS}
    found = []
    for node in ast.walk(tree):
        hit = (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_READERS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ) or (isinstance(node, ast.Name) and node.id in direct and isinstance(node.ctx, ast.Load))
        if not hit:
            continue
        name, up = None, parents.get(node)
        while up is not None and not isinstance(up, ast.stmt):
            args = up.args if isinstance(up, ast.Call) else [up.slice] if isinstance(up, ast.Subscript) else []
            if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                name = args[0].value
                break
            up = parents.get(up)
        found.append((node.lineno, name))
    return sorted(found, key=lambda f: f[0])


def test_the_scan_finds_every_way_of_reading():
    assert env_reads("import os\nx = os.environ.get('A')\ny = os.getenv('B', '1')\n") == [(2, "A"), (3, "B")]
    assert env_reads("import os as o\nx = o.environ['C']\n") == [(2, "C")]
    assert env_reads("from os import getenv as g, environ\nx = g('D')\ny = 'E' in environ\n") == [(2, "D"), (3, None)]
    assert env_reads("import os.path\nv = os.environ\n") == [(2, None)]
    assert env_reads("import os\nos.path.join('a')\nenviron = {}\nenviron.get('X')\n") == []


def test_no_code_outside_geo_settings_reads_the_environment():
    reads = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == SETTINGS_FILE or "/static/" in rel or "/tools/" in rel:
                continue
            reads += [(rel, line, name) for line, name in env_reads(path.read_text(encoding="utf-8"))]
    allowed = [(rel, name) for rel, _, name in reads if UNDECLARED.get(name or "") == rel]
    others = [r for r in reads if (r[0], r[2]) not in allowed]
    assert not others, f"read the settings (geo/settings.py) instead of the environment: {others}"
    assert len(allowed) == len(set(allowed)), f"one read each at most: {allowed}"


def test_the_scan_covers_the_packages():
    scanned = sum(1 for package in PACKAGES for _ in (ROOT / package).rglob("*.py"))
    assert scanned > 100 and (ROOT / SETTINGS_FILE).is_file()


# ---------------------------------------------------------------- the mechanism


def test_module_settings_are_read_once_and_again_after_cache_clear(env):
    class Example(ModuleSettings):
        model_config = SettingsConfigDict(env_prefix="CHENGJIAN_TEST_EXAMPLE_")

        limit: int = 3
        mode: Literal["a", "b"] = "a"

    assert Example in classes() and variables()["CHENGJIAN_TEST_EXAMPLE_LIMIT"] is Example
    env(CHENGJIAN_TEST_EXAMPLE_LIMIT=None)  # (env puts the variable back as it was after the test)
    first = module_settings(Example)
    assert (first.limit, first.mode) == (3, "a") and module_settings(Example) is first
    os.environ["CHENGJIAN_TEST_EXAMPLE_LIMIT"] = "7"  # changed behind the settings' back
    assert module_settings(Example).limit == 3  # kept ...
    get_settings.cache_clear()
    assert module_settings(Example).limit == 7  # ... until the settings are re-read, the modules' with the core's
    env(CHENGJIAN_TEST_EXAMPLE_LIMIT="", CHENGJIAN_TEST_EXAMPLE_MODE="b")
    assert (module_settings(Example).limit, module_settings(Example).mode) == (3, "b")  # empty counts as unset
    env(CHENGJIAN_TEST_EXAMPLE_MODE="c")
    with pytest.raises(SettingsError, match=r"CHENGJIAN_TEST_EXAMPLE_MODE: Input should be 'a' or 'b' \(got 'c'\)"):
        module_settings(Example)


def test_core_settings_errors_name_the_variable(env):
    env(CHENGJIAN_PORT="eighty")
    with pytest.raises(SettingsError, match="CHENGJIAN_PORT: 应为 1 至 65535 之间的整数"):  # its declared bounds
        get_settings()
    env(CHENGJIAN_PORT="80.5")
    with pytest.raises(SettingsError, match="CHENGJIAN_PORT: 应为 1 至 65535 之间的整数"):  # not rounded to 80
        get_settings()


def test_a_module_needs_its_own_prefix_and_variables():
    with pytest.raises(TypeError, match="own prefix"):

        class NoPrefix(ModuleSettings):
            limit: int = 1

    with pytest.raises(TypeError, match="own prefix"):

        class CorePrefix(ModuleSettings):
            model_config = SettingsConfigDict(env_prefix="CHENGJIAN_")

    with pytest.raises(TypeError, match="CHENGJIAN_TILE_CACHE_MB already read by Settings"):

        class Clash(ModuleSettings):
            model_config = SettingsConfigDict(env_prefix="CHENGJIAN_TILE_")

            cache_mb: float = 1

    names = {cls.__qualname__.rsplit(".", 1)[-1] for cls in classes()}
    assert not names & {"NoPrefix", "CorePrefix", "Clash"}
    with pytest.raises(TypeError, match="not a ModuleSettings"):
        module_settings(Settings)


def test_a_bad_module_value_stops_the_app_at_start_up(env):
    from api.app import create_app
    from layers.standard_sites import common

    assert common.outside_fence_policy() == "refuse"
    env(CHENGJIAN_ST_OUTSIDE_FENCE="flag", CHENGJIAN_ST_REPORT_DUE_DAY="12")
    assert common.outside_fence_policy() == "flag" and common.report_due_day() == 12
    env(CHENGJIAN_ST_OUTSIDE_FENCE="flg")
    with pytest.raises(SettingsError, match="CHENGJIAN_ST_OUTSIDE_FENCE: Input should be 'refuse' or 'flag'"):
        create_app()
    env(CHENGJIAN_ST_OUTSIDE_FENCE=None, CHENGJIAN_ST_REPORT_DUE_DAY="0")
    with pytest.raises(SettingsError, match="CHENGJIAN_ST_REPORT_DUE_DAY"):
        create_app()
