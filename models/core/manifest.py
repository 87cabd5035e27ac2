"""A model version on disk: its manifest (files, their sha256, tier, provenance) and the integrity check."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from seqsignal.models.core.checkpoint import UnsafeFileError, check_safe_file, sha256_bytes, sha256_file

MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"  # guards the manifest itself against a flipped byte
Tier = Literal["fast", "quality"]
TIERS: tuple[Tier, ...] = ("fast", "quality")
DEFAULT_TIER: Tier = "fast"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TASK_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RegistryError(RuntimeError):
    """A registry operation failed (unknown task/version, no champion, bad alias)."""


class IntegrityError(RegistryError):
    """A model file is missing, extra, unsafe, or does not match its recorded sha256."""


def task_dir(registry_dir: Path | str, task: str) -> Path:
    """The folder of a task's versions and aliases (RegistryError for a malformed task name)."""
    if not _TASK_RE.match(task):
        raise RegistryError(f"invalid task name {task!r}")
    return Path(registry_dir) / task


def check_version(version: str) -> str:
    """`version` when it is a well-formed version string, else RegistryError."""
    if not _VERSION_RE.match(version):
        raise RegistryError(f"invalid version {version!r}")
    return version


def code_version() -> str:
    """The git sha of the checkout (with -dirty when it has local changes), else 'unknown'."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def new_version() -> str:
    """A fresh version string: UTC creation time (sortable) plus a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_tier(tier: str) -> Tier:
    """`tier` as a Tier, or RegistryError."""
    for t in TIERS:
        if tier == t:
            return t
    raise RegistryError(f"unknown tier {tier!r}; tiers are {TIERS}")


def tier_of(manifest: Mapping[str, Any]) -> Tier:
    """The tier a manifest records ("fast" when it records none: versions written before tiers)."""
    return check_tier(str(manifest.get("tier", DEFAULT_TIER)))


def verify_version(version_dir: Path) -> dict[str, Any]:
    """Check manifest checksum, every file's sha256, no extra or unsafe files; return the manifest."""
    if not version_dir.is_dir():
        raise RegistryError(f"no model version at {version_dir}")
    try:
        mbytes = (version_dir / MANIFEST).read_bytes()
        expected = (version_dir / MANIFEST_SUM).read_text().strip()
    except OSError as e:
        raise IntegrityError(f"{version_dir}: missing manifest ({e})") from e
    if sha256_bytes(mbytes) != expected:
        raise IntegrityError(f"{version_dir}/{MANIFEST}: sha256 mismatch (tampered or corrupt)")
    manifest: dict[str, Any] = json.loads(mbytes)
    listed: dict[str, str] = manifest.get("files", {})
    present = {p.relative_to(version_dir).as_posix() for p in version_dir.rglob("*") if p.is_file()}
    extra = present - set(listed) - {MANIFEST, MANIFEST_SUM}
    if extra:
        raise IntegrityError(f"{version_dir}: files not in the manifest: {sorted(extra)}")
    for name, digest in listed.items():
        path = version_dir / name
        if ".." in Path(name).parts or not path.is_file():
            raise IntegrityError(f"{version_dir}: listed file {name!r} is missing or invalid")
        try:
            check_safe_file(name, path)
        except UnsafeFileError as e:
            raise IntegrityError(str(e)) from e
        if sha256_file(path) != digest:
            raise IntegrityError(f"{version_dir}/{name}: sha256 mismatch (tampered or corrupt)")
    return manifest
