"""Code style is part of CI: ruff lint and format over the package, tests and benchmarks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff(command):
    paths = ["daf", "tests", "benchmarks", "scripts"]
    result = subprocess.run([RUFF, *command, *paths], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_third_party_import_is_declared():
    """What daf imports is in pyproject's dependencies or an optional extra (e.g. duckdb for
    `daf query`, imported where used, with a one-line error naming the extra); what the tests
    import, there or in the `test` extra (a package only in constraints.txt would be missing
    from a plain install)."""
    import ast
    import importlib.metadata
    import re
    import sys
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}

    declared = names(project["dependencies"])
    extras = project["optional-dependencies"]
    optional = set().union(*(names(reqs) for name, reqs in extras.items() if name != "test"))
    for_tests = declared | names(extras["test"])
    distributions = importlib.metadata.packages_distributions()

    def imported(folder):
        modules = set()
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
        local = {p.stem for p in (REPO / folder).rglob("*.py")} | {"daf"}
        return {m for m in modules - local if m not in sys.stdlib_module_names and m in distributions}

    def undeclared(modules, allowed):
        return {m for m in modules if not {d.lower().replace("_", "-") for d in distributions[m]} & allowed}

    assert undeclared(imported("daf"), declared | optional) == set()
    assert undeclared(imported("tests"), for_tests) == set()
