"""The layout's promise: each folder of ``perf/`` is one stage of the data flow, and imports point
one way (README, "Layout"). Every import of every module counts, function-local and
``TYPE_CHECKING`` ones included: hiding a back-edge inside a function does not make it right.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from support import ROOT

PACKAGE = ROOT / "perf"
LIBRARY = {"cache", "db", "tokens", "monitor"}
BASE = {"errors", "_lazy", "_cache_reports"}  # the foundation: standard library only

# What each area may import besides itself. An area is perf/<name> (a subpackage or a module);
# "perf" is the package's own __init__, the flat public API over the library.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_lazy": set(),
    "_cache_reports": set(),  # where caches announce themselves to the monitor
    "_internal": set(),  # standard library only
    **{part: BASE | LIBRARY for part in LIBRARY},  # library peers, as long as there is no cycle
    "perf": BASE | LIBRARY,
    "results": BASE | {"_internal"},  # standard library only: the contract
    "service": BASE | LIBRARY | {"_internal"},
    "loadgen": BASE | {"_internal", "results", "service"},  # the workload draws from the dataset
    "bench": BASE | {"_internal", "results"},  # perf compare's producer: worktrees, rounds
    # window percentiles from the monitor's sketches; miss-ratio curves from perf.cache (stdlib)
    "report": BASE | {"_internal", "results", "monitor", "cache"},
    "cli": BASE | LIBRARY | {"_internal", "results", "service", "loadgen", "bench", "report"},
}
# Modules that are not perf's may still only be the standard library here.
STDLIB_ONLY = {"_internal", "results", *BASE}
# Importing locust gevent-patches the whole process: only the plugin that locustfiles load may.
LOCUST_ONLY_IN = {"perf.loadgen.locust_plugin"}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "perf"


def imported_modules(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in the file, ``from perf import x`` as ``perf.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module_name(path, package).split(".")
                base = base[: len(base) - node.level + (path.name == "__init__.py")]
                prefix = ".".join(base)
                name = f"{prefix}.{node.module}" if node.module else prefix
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            if name == "perf":  # from perf import cache -> perf.cache
                found += [(node.lineno, f"perf.{alias.name}") for alias in node.names]
    return found


def modules(package: Path = PACKAGE) -> list[Path]:
    return sorted(package.rglob("*.py"))


def edges(package: Path = PACKAGE) -> list[tuple[str, int, str, str]]:
    """``(file, line, from area, to area)`` for every import of a perf module by another area."""
    found = []
    for path in modules(package):
        source = area(module_name(path, package))
        for line, name in imported_modules(path, package):
            if name == "perf" or not name.startswith("perf."):
                continue
            target = area(name)
            if target in ALLOWED and target != source:
                found.append((str(path.relative_to(package.parent)), line, source, target))
    return found


def test_every_area_of_perf_has_a_rule() -> None:
    areas = {area(module_name(p)) for p in modules()}
    assert areas <= set(ALLOWED), f"new area(s) without a layering rule: {areas - set(ALLOWED)}"


def test_imports_point_one_way() -> None:
    wrong = [
        f"{file}:{line}: {source} may not import {target} (allowed: {sorted(ALLOWED[source])})"
        for file, line, source, target in edges()
        if target not in ALLOWED[source]
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_cycle_between_subpackages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for _, _, source, target in edges():
        graph[source].add(target)
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle between areas of perf: {exc.args[1]}")


def test_the_contract_and_the_internals_need_only_the_standard_library() -> None:
    wrong = []
    for path in modules():
        if area(module_name(path)) not in STDLIB_ONLY:
            continue
        for line, name in imported_modules(path):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in {"perf", "__future__"}:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {name}")
    assert not wrong, "\n".join(wrong)


def test_only_the_locust_plugin_imports_locust() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in modules()
        if module_name(path) not in LOCUST_ONLY_IN
        for line, name in imported_modules(path)
        if name.split(".")[0] in {"locust", "gevent"}
    ]
    assert not wrong, f"locust imported outside the plugin: {wrong}"


def test_the_checker_sees_back_edges_however_they_are_written(tmp_path: Path) -> None:
    """A package laid out like perf with back-edges hidden in a function, behind ``from perf
    import``, and relative: each one is an edge the rules refuse."""
    package = tmp_path / "perf"
    (package / "cache").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cache" / "__init__.py").write_text("from ..report import gate\n")
    (package / "cache" / "memory.py").write_text(
        "def f():\n    from perf.report import checks\n    from perf import cli\n"
    )
    found = sorted((file, source, target) for file, _, source, target in edges(package))
    assert found == [
        ("perf/cache/__init__.py", "cache", "report"),
        ("perf/cache/memory.py", "cache", "cli"),
        ("perf/cache/memory.py", "cache", "report"),
    ]
    assert not {"report", "cli"} & ALLOWED["cache"]
