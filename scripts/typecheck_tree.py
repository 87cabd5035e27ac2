"""Build build/typecheck/seqsignal: a symlink tree of the installed package layout, for mypy.

Why: pyproject maps seqsignal.workers -> workers/, seqsignal.models -> models/, ... (package-dir). An editable
install serves that mapping through a setuptools import hook that mypy cannot follow, so mypy would find no
`seqsignal.workers`. This tree lays the package out as it is installed (seqsignal/ files plus one symlink per
mapped folder), read from pyproject so new mappings need no change here; then
`MYPYPATH=build/typecheck mypy -p seqsignal` checks the real files.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path


def build(root: Path, out: Path) -> Path:
    """Lay out out/seqsignal from root's pyproject package-dir; returns the package folder."""
    mapping: dict[str, str] = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    pkg = out / "seqsignal"
    if out.exists():
        shutil.rmtree(out)
    pkg.mkdir(parents=True)
    for entry in sorted((root / mapping.get("seqsignal", "seqsignal")).iterdir()):
        if entry.name != "__pycache__" and (entry.is_dir() or entry.suffix in (".py", ".pyi", ".typed")):
            (pkg / entry.name).symlink_to(entry.resolve())
    for name, folder in mapping.items():
        parts = name.split(".")
        if parts[0] != "seqsignal" or len(parts) == 1:
            continue
        link = pkg.joinpath(*parts[1:])
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to((root / folder).resolve())
    return pkg


if __name__ == "__main__":
    here = Path(__file__).resolve().parent.parent
    print(build(here, here / (sys.argv[1] if len(sys.argv) > 1 else "build/typecheck")))
