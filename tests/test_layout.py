"""Which way the house's rooms depend on each other, read from the source with ast (every import,
at the top of a module or inside a function, since a function-level import hides a cycle but does
not remove it):

- prefetch_ui/web/ (what every app uses) and prefetch_ui/dispatch.py (sending a task after
  commit) import from no app;
- no app imports a module of an app that imports it back;
- `incidents` may use `prefetch`, never the other way round, and `core` uses neither;
- nothing imports `api`, which sits on top of the others.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from django.apps import apps

PACKAGE = Path(__file__).resolve().parent.parent / "prefetch_ui"


def _app_packages() -> set[str]:
    """The installed apps of this project, by their package under prefetch_ui (`prefetch`, ...)."""
    return {
        config.name.removeprefix("prefetch_ui.")
        for config in apps.get_app_configs()
        if config.name.startswith("prefetch_ui.")
    }


def _imports() -> dict[str, dict[str, list[str]]]:
    """For each package under prefetch_ui, the other packages it imports, each with where."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        inside = path.relative_to(PACKAGE).with_suffix("").parts  # a top-level module by its name
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "prefetch_ui" and len(parts) > 1 and parts[1] != inside[0]:
                    found[inside[0]][parts[1]].append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_web_and_dispatch_import_no_app() -> None:
    imports = _imports()
    assert {
        (shared, app): imports[shared][app]
        for shared in ("web", "dispatch")
        for app in _app_packages()
        if app in imports[shared]
    } == {}


def test_no_app_imports_an_app_that_imports_it_back() -> None:
    imports = _imports()
    both_ways = {
        (first, second): (imports[first][second], imports[second][first])
        for first in sorted(_app_packages())
        for second in sorted(_app_packages())
        if first < second and imports[first].get(second) and imports[second].get(first)
    }
    assert both_ways == {}


def test_prefetch_and_core_do_not_import_incidents() -> None:
    imports = _imports()
    assert {app: imports[app].get("incidents", []) for app in ("prefetch", "core")} == {
        "prefetch": [],
        "core": [],
    }
    assert imports["core"].get("prefetch", []) == []


def test_nothing_imports_the_api() -> None:
    """The API (prefetch_ui/api/) sits on top: it reads the apps' selectors and calls their services,
    and no app, nor the project's shared modules, depends on it."""
    imports = _imports()
    assert {package: imports[package]["api"] for package in imports if imports[package].get("api")} == {}


def test_the_apps_on_top_are_imported_by_nothing_and_not_by_each_other() -> None:
    """The API, the alert receivers, the notifications and the limits pages sit on top of prefetch,
    incidents and reviews: no other package depends on them, and none of them depends on another
    (each can be understood, and removed, alone)."""
    imports = _imports()
    on_top = ("api", "alerts", "notifications", "limits")
    assert {
        (package, app): imports[package][app]
        for package in imports
        for app in on_top
        if imports[package].get(app)
    } == {}
