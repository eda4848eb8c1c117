"""The walls between the parts of the program, read from the source with `ast`.

Deciding (`rules`), reading (`io`), storing (`state`), presenting (`report`) and sending (`mail`)
import only what sits beneath them: each part's own modules and the neutral ones everybody
shares (`records`, `results`, `schema`, `normalise`, `config`, `weeks`, `periods`, and `texts` for the
parts that speak to people). Every import counts, including those inside functions, and so does
what the imported neutral modules import in turn: a wall cannot be crossed through them.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import pipeline

PACKAGE = Path(pipeline.__file__).parent
PARTS = ("cli", "run", "io", "state", "rules", "report", "mail")

# What each part may never reach, directly or through the modules it imports.
WALLS = {
    "rules": {"io", "state", "report", "mail", "cli", "run", "texts"},  # texts: no message is worded by a rule
    "report": {"state", "run", "rules", "io", "mail", "cli"},
    "io": {"rules", "state", "report", "mail", "cli", "run"},
    "state": {"rules", "report", "io", "mail", "cli", "run"},
    "postgres": {"rules", "report", "io", "mail", "cli", "run"},  # the state's server engine: as `state`
    "mail": {"rules", "state", "io", "run", "cli"},
    "records": set(PARTS) | {"results", "texts", "config"},
    "results": set(PARTS) | {"texts", "config"},
    "periods": set(PARTS) | {"texts", "config"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


@cache
def imports_of(name: str) -> frozenset[str]:
    """The package's modules `name` imports anywhere in its source."""
    base = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - node.level + 1]
                origin = ".".join(anchor + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            submodules = {f"{origin}.{alias.name}" for alias in node.names} & set(MODULES)  # `from . import read`
            found.update(submodules if len(submodules) == len(node.names) else {origin, *submodules})
    return frozenset(m for m in found if m in MODULES and m != name)


def reached_from(name: str) -> set[str]:
    """Every module of the package `name` imports, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for module in imports_of(todo.pop()):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


def part_of(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_the_modules_are_found() -> None:
    assert {"pipeline.rules.replay", "pipeline.io.read", "pipeline.report.model", "pipeline.records"} <= set(MODULES)
    assert "pipeline.records" in imports_of("pipeline.rules.replay")
    assert "pipeline.io.columnar" in imports_of("pipeline.io.read")  # `from . import columnar` inside a function


@pytest.mark.parametrize("part", sorted(WALLS))
def test_a_part_never_reaches_beyond_its_walls(part: str) -> None:
    crossings = sorted(
        (module, reached)
        for module in MODULES if part_of(module) == part
        for reached in reached_from(module) if part_of(reached) in WALLS[part] and part_of(reached) != part
    )
    assert crossings == []


def test_no_two_parts_import_each_other() -> None:
    """Between cli, run, io, state, rules, report and mail the imports run one way: no cycle."""
    edges = {(part_of(m), part_of(i)) for m in MODULES for i in imports_of(m)}
    graph = {p: {b for a, b in edges if a == p and b in PARTS and b != p} for p in PARTS}

    def cycle_from(start: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(graph[path[-1]]):
            if nxt == start:
                return (*path, nxt)
            if nxt not in path:
                found = cycle_from(start, (*path, nxt))
                if found:
                    return found
        return None

    assert [c for p in PARTS if (c := cycle_from(p, (p,)))] == []


TESTS = Path(__file__).parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_used(source: str) -> list[str]:
    """The product's private names a test module reaches: imported (`from pipeline.x import _y`),
    read or replaced on one of the product's modules (`write._side`, `setattr(write, "_side", …)`)."""
    tree = ast.parse(source)
    modules: set[str] = set()  # local names bound to the product's modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pipeline":
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    modules.add(alias.asname or alias.name)
                elif _private(alias.name):
                    found.append(f"{node.module}.{alias.name} (line {node.lineno})")
        elif isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names if a.asname and a.name.split(".")[0] == "pipeline")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                and _private(node.attr):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setattr" \
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and node.args[0].id in modules \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and _private(node.args[1].value):
            found.append(f"{node.args[0].id}.{node.args[1].value} (line {node.lineno})")
    return found


def test_the_tests_reach_the_product_through_its_public_names() -> None:
    """A test that reaches a private name breaks when the code is tidied, not when it is wrong:
    the tests use what each module offers (its public functions, classes and settings) and the
    command line."""
    used = {p.name: private_names_used(p.read_text(encoding="utf-8")) for p in sorted(TESTS.glob("*.py"))}
    assert {name: found for name, found in used.items() if found} == {}


def test_the_check_for_private_names_finds_each_way_in() -> None:
    source = ("from pipeline.report import write\nimport pipeline.run as run\nfrom pipeline.mail import _MASKED, mask_text\n"
              "write._side_file\nrun.publish\nmonkeypatch.setattr(write, '_Claims', None)\nwrite.__doc__\n")
    assert private_names_used(source) == ["pipeline.mail._MASKED (line 3)", "write._side_file (line 4)",
                                          "write._Claims (line 6)"]
