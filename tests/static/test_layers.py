"""DAF's packages are layered one way: a module imports only its own package and the layers
below it (the order is daf/__init__'s docstring). Every import counts, function-level ones
too, so a lazy import cannot hide an upward dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DAF = Path(__file__).resolve().parents[2] / "daf"

# Lowest first. Packages on one line are siblings: neither imports the other.
LAYERS = [
    {"errors", "io", "limits", "logs", "paths", "tracking", "versions"},
    {"missions"},
    {"policies"},
    {"config"},
    {"training", "evaluation"},
    {"stats"},
    {"sweeps"},
    {"workflow"},
    {"report"},
    {"ops"},
    {"api"},
    {"cli"},
]
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}
BASE = LAYERS[0]


def unit_of(module: str) -> str:
    """`daf.stats.vor` -> `stats`; `daf.io` -> `io`; `daf.__main__` -> `cli` (it runs the cli)."""
    parts = module.split(".")
    return "cli" if parts[1] == "__main__" else parts[1]


def daf_imports(path: Path) -> list[tuple[int, str]]:
    """Every `daf.*` module a file imports, with its line (`from daf import x` names module daf.x)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("daf.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "daf":
                found += [(node.lineno, f"daf.{a.name}") for a in node.names]
            elif node.module.startswith("daf."):
                found.append((node.lineno, node.module))
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(DAF.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = sorted(p for p in DAF.rglob("*.py") if p != DAF / "__init__.py")


def test_every_package_and_base_module_has_a_layer():
    units = {unit_of(module_name(p)) for p in MODULES}
    assert units - set(LAYER) == set(), "add the new package to LAYERS (and to daf/__init__'s docstring)"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(DAF)))
def test_imports_point_down(path):
    me = unit_of(module_name(path))
    wrong = []
    for line, target in daf_imports(path):
        other = unit_of(target)
        if other not in LAYER:  # `from daf import __version__`: the top-level API is for users only
            wrong.append(f"line {line}: {target} (import names from their own module, not from `daf`)")
        elif other != me and (LAYER[other] >= LAYER[me]) and not (me in BASE and other in BASE and other != me):
            wrong.append(f"line {line}: {target} ({me} is layer {LAYER[me]}, {other} is layer {LAYER[other]})")
    assert wrong == [], f"{path.relative_to(DAF.parent)} imports upward or sideways: " + "; ".join(wrong)


def test_base_modules_import_only_base_modules():
    for unit in BASE:
        path = DAF / f"{unit}.py"
        others = {unit_of(t) for _, t in daf_imports(path)} - BASE
        assert others == set(), f"daf/{unit}.py is a base module but imports {sorted(others)}"


def test_the_checker_sees_lazy_and_from_daf_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n    from daf.stats import vor\n    from daf import io, __version__\nimport daf.cli.train\n"
    )
    assert sorted(daf_imports(probe)) == [(2, "daf.stats"), (3, "daf.__version__"), (3, "daf.io"), (4, "daf.cli.train")]
