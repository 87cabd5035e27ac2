"""On-disk model registry: versioned checksummed directories, a champion alias with history, loaders.

Tiers: a version records its `tier` in its manifest ("fast", the CPU default, or "quality", the
pretrained-encoder tier served on a GPU); a manifest without one (every registry written before tiers) is
"fast". The champion is kept per (task, tier): `<task>/champion.json` is the fast champion (the same file
as before tiers, so older registries load unchanged) and `<task>/champion.quality.json` the quality one.
Versions of both tiers live side by side in `<task>/<version>/`; `promote` writes the alias of the
version's own tier, `rollback` and `champion` take the tier (default fast).
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, overload

from seqsignal.models.core.checkpoint import check_safe, json_bytes, sha256_bytes, sha256_file
from seqsignal.models.core.manifest import (
    DEFAULT_TIER,
    MANIFEST,
    MANIFEST_SUM,
    TIERS,
    IntegrityError,
    RegistryError,
    Tier,
    check_tier,
    check_version,
    code_version,
    new_version,
    task_dir,
    tier_of,
    verify_version,
)
from seqsignal.models.core.serving import BehaviorModel, Predictor, RumorModel, SentimentModel

ALIAS = "champion.json"  # the fast tier's champion (the only alias before tiers existed)
Loader = Callable[[Path, dict[str, Any], str], Predictor]  # (version_dir, manifest, device) -> predictor
LOADERS: dict[str, Loader] = {}
# The module of each task whose import registers its loader (imported on first use).
LOADER_MODULES: dict[str, str] = {
    "behavior": "seqsignal.models.behavior.predictor",
    "sentiment": "seqsignal.models.text.sentiment",
    "rumor": "seqsignal.models.text.rumor",
}


def register_loader(task: str) -> Callable[[Loader], Loader]:
    """Decorator a task module (`seqsignal.models.<task>`) uses to register its predictor loader."""

    def deco(fn: Loader) -> Loader:
        LOADERS[task] = fn
        return fn

    return deco


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _alias_name(tier: str) -> str:
    return ALIAS if check_tier(tier) == DEFAULT_TIER else f"champion.{tier}.json"


def save_version(registry_dir: Path | str, task: str, files: Mapping[str, bytes | Path], *,
                 metrics: Mapping[str, float] | None = None, data: str | Mapping[str, Any] = "",
                 version: str | None = None, extra: Mapping[str, Any] | None = None,
                 make_champion_if_none: bool = False, tier: str = DEFAULT_TIER) -> str:
    """Write a new immutable version of `tier` atomically (temp dir + rename); return its version string.
    With `make_champion_if_none`, it becomes champion of its tier when that tier has none."""
    tier = check_tier(tier)
    tdir = task_dir(registry_dir, task)
    tdir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    version = version or new_version()
    check_version(version)
    if (tdir / version).exists():
        raise RegistryError(f"{task}/{version} already exists; versions are immutable")
    tmp = tdir / f".tmp-{version}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        sums: dict[str, str] = {}
        for name, content in files.items():
            if name in (MANIFEST, MANIFEST_SUM) or name.startswith(".") or ".." in Path(name).parts:
                raise RegistryError(f"invalid file name {name!r}")
            blob = content.read_bytes() if isinstance(content, Path) else content
            check_safe(name, blob)
            dest = tmp / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(blob)
            sums[name] = sha256_bytes(blob)
        manifest = {
            "task": task, "version": version, "created_at": now.isoformat(),
            "data": data, "metrics": dict(metrics or {}), "code_version": code_version(),
            "files": dict(sorted(sums.items())), **dict(extra or {}), "tier": tier,
        }
        mbytes = json_bytes(manifest)
        (tmp / MANIFEST).write_bytes(mbytes)
        (tmp / MANIFEST_SUM).write_text(sha256_bytes(mbytes) + "\n")
        os.rename(tmp, tdir / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_champion_if_none and champion(registry_dir, task, tier) is None:
        promote(task, version, registry_dir)
    return version


def list_versions(registry_dir: Path | str, task: str) -> list[str]:
    """Every complete version of a task, oldest first (versions sort by creation time)."""
    tdir = task_dir(registry_dir, task)
    if not tdir.is_dir():
        return []
    return sorted(p.name for p in tdir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / MANIFEST).is_file())


def _read_alias(registry_dir: Path | str, task: str, tier: str = DEFAULT_TIER) -> dict[str, Any] | None:
    path = task_dir(registry_dir, task) / _alias_name(tier)
    if not path.is_file():
        return None
    try:
        alias: dict[str, Any] = json.loads(path.read_text())
    except ValueError as e:
        raise RegistryError(f"{path}: unreadable alias file ({e})") from e
    return alias


def champion(registry_dir: Path | str, task: str, tier: str = DEFAULT_TIER) -> str | None:
    """The serving version of a task's tier, or None."""
    alias = _read_alias(registry_dir, task, tier)
    return str(alias["version"]) if alias else None


def manifest_sha256(registry_dir: Path | str, task: str, version: str) -> str:
    return sha256_file(task_dir(registry_dir, task) / version / MANIFEST)


def _write_alias(registry_dir: Path | str, task: str, version: str, history: list[dict[str, str]],
                 tier: str = DEFAULT_TIER) -> None:
    sha = manifest_sha256(registry_dir, task, version)
    alias = {"task": task, "version": version, "manifest_sha256": sha, "tier": tier,
             "promoted_at": datetime.now(UTC).isoformat(), "history": history}
    _atomic_write(task_dir(registry_dir, task) / _alias_name(tier), json_bytes(alias))


def version_tier(registry_dir: Path | str, task: str, version: str) -> Tier:
    """The tier a stored version records (its manifest read, not verified)."""
    check_version(version)
    try:
        manifest = json.loads((task_dir(registry_dir, task) / version / MANIFEST).read_bytes())
    except (OSError, ValueError) as e:
        raise RegistryError(f"{task}/{version}: no readable manifest ({e})") from e
    return tier_of(manifest)


def promote(task: str, version: str, registry_dir: Path | str) -> str:
    """Make `version` the champion of its own tier (verified first); keep the previous champions of that
    tier as history."""
    tier = tier_of(verify_version(task_dir(registry_dir, task) / version))
    alias = _read_alias(registry_dir, task, tier)
    history: list[dict[str, str]] = list(alias.get("history", [])) if alias else []
    if alias and alias["version"] != version:
        history.append({"version": alias["version"], "promoted_at": alias["promoted_at"]})
    _write_alias(registry_dir, task, version, history, tier)
    return manifest_sha256(registry_dir, task, version)


def rollback(task: str, registry_dir: Path | str, tier: str = DEFAULT_TIER) -> str:
    """Restore the previous champion of a tier; return its version."""
    alias = _read_alias(registry_dir, task, tier)
    if not alias or not alias.get("history"):
        raise RegistryError(f"{task} ({tier} tier): no previous champion to roll back to")
    history = list(alias["history"])
    prev = history.pop()["version"]
    verify_version(task_dir(registry_dir, task) / prev)
    _write_alias(registry_dir, task, prev, history, tier)
    return str(prev)


def resolve(registry_dir: Path | str, task: str, version: str | None = None,
            tier: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The verified directory and manifest of a version (default: the champion of `tier`, fast unless
    given, whose manifest must also match the sha256 recorded in the alias when it was promoted). A named
    version with a `tier` must be of that tier."""
    alias = None if version else _read_alias(registry_dir, task, tier or DEFAULT_TIER)
    version = version or (str(alias["version"]) if alias else None)
    if version is None:
        raise RegistryError(
            f"{task}: no {tier or DEFAULT_TIER}-tier champion in {registry_dir}; train one or pass a version")
    check_version(version)
    vdir = task_dir(registry_dir, task) / version
    manifest = verify_version(vdir)
    if manifest.get("task") != task or manifest.get("version") != version:
        raise IntegrityError(f"{vdir}: manifest names {manifest.get('task')}/{manifest.get('version')}")
    if alias and alias.get("manifest_sha256") not in (None, sha256_file(vdir / MANIFEST)):
        raise IntegrityError(f"{vdir}: manifest differs from the one promoted to champion")
    if tier is not None and tier_of(manifest) != tier:
        raise RegistryError(f"{task}/{version} is a {tier_of(manifest)}-tier version, not {tier}")
    return vdir, manifest


def _loader(task: str) -> Loader:
    """The registered loader of a task (importing the module that registers it on first use)."""
    if task not in LOADERS:
        try:
            importlib.import_module(LOADER_MODULES[task])
        except (KeyError, ModuleNotFoundError) as e:
            raise RegistryError(f"no predictor module for task {task!r}") from e
    if task not in LOADERS:
        raise RegistryError(f"{LOADER_MODULES[task]} registered no loader (use @register_loader)")
    return LOADERS[task]


@overload
def load_predictor(task: Literal["behavior"], registry_dir: Path | str, version: str | None = None,
                   device: str = "cpu", model_dir: Path | None = None,
                   tier: str | None = None) -> BehaviorModel: ...
@overload
def load_predictor(task: Literal["sentiment"], registry_dir: Path | str, version: str | None = None,
                   device: str = "cpu", model_dir: Path | None = None,
                   tier: str | None = None) -> SentimentModel: ...
@overload
def load_predictor(task: Literal["rumor"], registry_dir: Path | str, version: str | None = None,
                   device: str = "cpu", model_dir: Path | None = None,
                   tier: str | None = None) -> RumorModel: ...
@overload
def load_predictor(task: str, registry_dir: Path | str, version: str | None = None,
                   device: str = "cpu", model_dir: Path | None = None,
                   tier: str | None = None) -> Predictor: ...
def load_predictor(task: str, registry_dir: Path | str, version: str | None = None,
                   device: str = "cpu", model_dir: Path | None = None,
                   tier: str | None = None) -> Predictor:
    """Load the champion of a task's `tier` (default fast; or the named version, which must be of `tier`
    when one is given) through its registered loader, which reads the tier from the manifest; with
    `model_dir`, that version directory instead (verified the same way), e.g. a model copied out of a
    registry."""
    loader = _loader(task)
    if model_dir is not None:
        manifest = verify_version(model_dir)
        if tier is not None and tier_of(manifest) != tier:
            raise RegistryError(f"{model_dir} holds a {tier_of(manifest)}-tier model, not {tier}")
        return loader(model_dir, manifest, device)
    vdir, manifest = resolve(registry_dir, task, version, tier)
    return loader(vdir, manifest, device)


# The names importers use, those kept here for them included.
__all__ = [
    "ALIAS", "DEFAULT_TIER", "LOADERS", "LOADER_MODULES", "MANIFEST", "MANIFEST_SUM", "TIERS",
    "IntegrityError", "Loader", "RegistryError", "Tier", "champion", "check_tier", "code_version",
    "list_versions", "load_predictor", "manifest_sha256", "new_version", "promote", "register_loader",
    "resolve", "rollback", "save_version", "tier_of", "verify_version", "version_tier",
]
