"""Packages import only from their own floor or lower ones; the numpy core imports no torch.

The floor order is documented in docs/conventions.md ("Layers") and checked here over every
``import`` in src/echomark, at module level and inside functions alike.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "echomark"

#: Floors, low -> high; names on one floor may import each other.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "fileio", "calibration", "progress", "pools"),
    ("geometry",),
    ("cache",),
    ("labels",),
    ("dicom",),
    ("heatmaps",),
    ("synth",),
    ("evaluate",),
    ("measure",),
    ("models",),
    ("data",),
    ("train",),
    ("predict",),
    ("sources",),
    ("workflows",),
    ("serve",),
    ("cli",),
)

#: What may be imported from the package root itself (``from echomark import ...``).
ROOT_NAMES = {"__version__"}


def floor_index(floors: Sequence[Sequence[str]]) -> dict[str, int]:
    """Top-level name -> its floor number."""
    return {name: i for i, names in enumerate(floors) for name in names}


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """Dotted ``echomark...`` modules an import statement reads (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module == "echomark":
        return [f"echomark.{a.name}" for a in node.names]
    return [module]


def layer_violations(src: Path, floors: Sequence[Sequence[str]] = FLOORS) -> list[str]:
    """Every import in the package at ``src`` that goes up the floor order.

    Args:
        src: The package folder (``src/echomark`` or a synthetic one named ``echomark``).
        floors: Floor order, low -> high.

    Returns:
        ``"<file>:<line>: <from> -> <to>"`` per upward (or unplaced) import, in file order.
    """
    index = floor_index(floors)
    problems = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        top = rel.parts[0].removesuffix(".py")
        if top == "__init__" and len(rel.parts) == 1:
            continue  # the package facade re-exports the public API lazily
        if top == "__main__":
            top = "cli"
        module = ".".join(("echomark", *rel.with_suffix("").parts))
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        package = package.removesuffix(".__init__")
        where = f"{rel}"
        if top not in index:
            problems.append(f"{where}:1: package {top!r} is not in the documented floor order")
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, package):
                parts = target.split(".")
                if parts[0] != "echomark" or len(parts) < 2:
                    continue
                dest = parts[1]
                if dest in ROOT_NAMES:
                    continue
                if dest not in index:
                    problems.append(f"{where}:{node.lineno}: {top} -> unplaced {target}")
                elif index[dest] > index[top]:
                    problems.append(f"{where}:{node.lineno}: {top} -> {dest}")
    return problems


def documented_floors() -> list[list[str]]:
    """The floor order as written in docs/conventions.md (the backticked line of "Layers")."""
    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("`errors") and " < " in ln)
    return [re.findall(r"[a-z_]+", part) for part in line.split(" < ")]


def test_no_import_goes_up_a_floor() -> None:
    assert layer_violations(SRC) == []


def test_floor_order_is_the_documented_one() -> None:
    assert documented_floors() == [list(f) for f in FLOORS]


def test_every_package_has_a_floor() -> None:
    index = floor_index(FLOORS)
    # Python modules and packages only: configs/ holds package data (YAML), no code.
    tops = {
        p.name.removesuffix(".py")
        for p in SRC.iterdir()
        if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").is_file())
    }
    assert tops <= set(index)
    assert {"cache", "calibration", "cli", "workflows"} <= tops


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "echomark"
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_checker_sees_upward_imports_everywhere(tmp_path: Path) -> None:
    floors = (("errors",), ("geometry",), ("measure",), ("cli",))
    root = _tree(
        tmp_path,
        {
            "__init__.py": "from echomark.cli import main\n",  # the facade: not checked
            "errors.py": "",
            "geometry/__init__.py": "from echomark.errors import X\n",
            "geometry/a.py": "def f():\n    from echomark.measure import m\n",  # in a function
            "geometry/b.py": "import echomark.cli.main\nfrom . import a\n",
            "geometry/c.py": "from ..measure import m\nfrom echomark import measure\n",
            "measure/__init__.py": "from echomark import __version__\nfrom echomark.geometry import a\n",
            "measure/x.py": "from echomark import Predictor\nimport numpy\n",
            "cli/main.py": "from echomark.measure import m\n",
            "serve/app.py": "",
        },
    )
    assert layer_violations(root, floors) == [
        "geometry/a.py:2: geometry -> measure",
        "geometry/b.py:1: geometry -> cli",
        "geometry/c.py:1: geometry -> measure",
        "geometry/c.py:2: geometry -> measure",
        "measure/x.py:1: measure -> unplaced echomark.Predictor",
        "serve/app.py:1: package 'serve' is not in the documented floor order",
    ]


@pytest.mark.parametrize(
    "top",
    [
        "echomark.calibration",
        "echomark.labels",
        "echomark.cache",
        "echomark.geometry",
        "echomark.dicom",
        "echomark.heatmaps",
        "echomark.synth",
        "echomark.evaluate",
        "echomark.measure",
        "echomark.cli.evaluate",
    ],
)
def test_numpy_core_imports_with_torch_blocked(top: str) -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in the numpy core')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        "import pkgutil\n"
        f"mod = importlib.import_module({top!r})\n"
        "for info in pkgutil.walk_packages(getattr(mod, '__path__', []), mod.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
