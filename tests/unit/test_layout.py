"""The tree's rules: imports run one way (schemas <- models <- workers <- CLI); every package is packaged."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = ("schemas", "deploy", "models", "workers", "seqsignal")
# package -> the seqsignal packages its modules may import (itself included); most specific prefix wins
ALLOWED: dict[str, tuple[str, ...]] = {
    "seqsignal.schemas": ("seqsignal.schemas",),
    "seqsignal.deploy": ("seqsignal.deploy",),
    "seqsignal.models.datasets": ("seqsignal.schemas", "seqsignal.models.datasets"),
    "seqsignal.models.core": ("seqsignal.schemas", "seqsignal.models.core"),
    "seqsignal.models.behavior": ("seqsignal.schemas", "seqsignal.models.core", "seqsignal.models.datasets",
                                  "seqsignal.models.behavior"),
    "seqsignal.models.text": ("seqsignal.schemas", "seqsignal.models.core", "seqsignal.models.datasets",
                              "seqsignal.models.text"),
    "seqsignal.models": ("seqsignal.schemas", "seqsignal.models"),
    "seqsignal.workers": ("seqsignal.schemas", "seqsignal.models", "seqsignal.deploy", "seqsignal.workers"),
    "seqsignal": ("seqsignal",),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] != "seqsignal":
        parts.insert(0, "seqsignal")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def production_modules() -> list[Path]:
    """Every module of the installed package, each once (seqsignal/<top> links are walked as <top>/)."""
    links = {ROOT / "seqsignal" / top for top in TOP[:-1]}
    return [p for top in TOP for p in sorted((ROOT / top).rglob("*.py"))
            if not any(link in p.parents for link in links)]


def imported(path: Path) -> set[str]:
    """Every seqsignal module a file imports, at the top or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("seqsignal"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqsignal"):
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def rule_for(module: str) -> tuple[str, tuple[str, ...]]:
    owner = max((k for k in ALLOWED if module == k or module.startswith(k + ".")), key=len)
    return owner, ALLOWED[owner]


def test_imports_run_one_way() -> None:
    wrong = []
    for path in production_modules():
        mod = module_name(path)
        owner, allowed = rule_for(mod)
        for target in sorted(imported(path)):
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                wrong.append(f"{mod} ({owner}) imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_rule_catches_a_wrong_edge() -> None:
    owner, allowed = rule_for("seqsignal.models.core.registry")
    assert owner == "seqsignal.models.core"
    assert not any("seqsignal.workers.settings".startswith(a) for a in allowed)


def test_every_package_is_packaged() -> None:
    """Every folder with an __init__.py is found by pyproject's package discovery, and every folder of
    Python modules has an __init__.py (a forgotten one would drop it from the wheel silently)."""
    from setuptools import find_packages

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = cfg["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(find_packages(str(ROOT), include=include))
    folders = set()
    for top in TOP:
        for init in (ROOT / top).rglob("__init__.py"):
            folders.add(module_name(init))
        for py in (ROOT / top).rglob("*.py"):
            assert (py.parent / "__init__.py").exists(), f"{py.parent} has modules but no __init__.py"
    assert folders <= found, f"not packaged: {sorted(folders - found)}"


@pytest.mark.parametrize("top", ["workers", "models", "schemas", "deploy"])
def test_namespace_links(top: str) -> None:
    link = ROOT / "seqsignal" / top
    assert link.is_symlink() and link.resolve() == (ROOT / top).resolve()


MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 60


def test_files_and_functions_stay_small() -> None:
    """No production file over 300 lines, no function over 60: a newcomer reads the tree in an afternoon."""
    too_big = []
    for path in production_modules():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_FILE_LINES:
            too_big.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not too_big, "split these:\n" + "\n".join(too_big)


def test_test_modules_have_unique_names() -> None:
    """tests/ has no __init__.py files, so pytest imports each test module by its basename: two files with
    the same name in different tiers stop the whole collection."""
    from collections import Counter

    names = Counter(p.name for p in (ROOT / "tests").rglob("test_*.py"))
    assert not [n for n, c in names.items() if c > 1]
