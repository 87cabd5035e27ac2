"""Unit tests of the model registry: bit-exact round trip, tamper/pickle refusal, champion, rollback."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from seqsignal.models.core import registry
from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, load_into, model_files
from seqsignal.models.core.registry import IntegrityError, RegistryError
from seqsignal.models.core.seq2seq import Seq2Seq, Seq2SeqConfig


def _model() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(tgt_vocab_size=5, input_dim=4, hidden_size=8, attention="luong"))


def _save(root: Path, version: str | None = None, **kw: Any) -> str:
    m = _model()
    files: dict[str, bytes | Path] = dict(model_files(m, m.config.to_dict()))
    files["tokenizer/vocab.txt"] = b"a\nb\n"
    return registry.save_version(root, "toy", files, metrics={"acc": 0.5}, data="toy data",
                                 version=version, **kw)


def test_round_trip_bit_exact(tmp_path: Path) -> None:
    m = _model()
    v = _save(tmp_path)
    vdir, manifest = registry.resolve(tmp_path, "toy", v)
    assert manifest["task"] == "toy" and manifest["metrics"] == {"acc": 0.5} and manifest["code_version"]
    assert set(manifest["files"]) == {WEIGHTS, CONFIG, "tokenizer/vocab.txt"}
    cfg = Seq2SeqConfig.from_dict(json.loads((vdir / CONFIG).read_text()))
    assert cfg == m.config
    m2 = load_into(Seq2Seq(cfg), (vdir / WEIGHTS).read_bytes())
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items(), strict=True):
        assert k == k2 and a.dtype == b.dtype and torch.equal(a, b)
    # saving the reloaded model gives the same bytes
    assert model_files(m2, cfg.to_dict())[WEIGHTS] == (vdir / WEIGHTS).read_bytes()
    assert not list(tmp_path.glob("toy/.tmp-*"))  # temp dir renamed away


@pytest.mark.parametrize("name", [WEIGHTS, CONFIG, "tokenizer/vocab.txt", "manifest.json", "manifest.sha256"])
def test_flipped_byte_is_refused(tmp_path: Path, name: str) -> None:
    v = _save(tmp_path)
    path = tmp_path / "toy" / v / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        registry.resolve(tmp_path, "toy", v)


def test_pickle_payloads_are_refused(tmp_path: Path) -> None:
    payload = pickle.dumps({"x": 1})
    with pytest.raises(ValueError, match="not allowed"):
        registry.save_version(tmp_path, "toy", {"model.pt": payload})
    with pytest.raises(ValueError, match="pickle"):
        registry.save_version(tmp_path, "toy", {"model.safetensors": payload})
    # a pickle dropped into a valid version directory
    v = _save(tmp_path)
    (tmp_path / "toy" / v / "evil.pkl").write_bytes(payload)
    with pytest.raises(IntegrityError, match="not in the manifest"):
        registry.resolve(tmp_path, "toy", v)


def test_manifest_pointing_at_pickle_is_refused(tmp_path: Path) -> None:
    v = _save(tmp_path)
    vdir = tmp_path / "toy" / v
    payload = pickle.dumps([1, 2])
    (vdir / "weights.pt").write_bytes(payload)
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["files"]["weights.pt"] = registry.sha256_bytes(payload)
    mbytes = json.dumps(manifest).encode()
    (vdir / "manifest.json").write_bytes(mbytes)
    (vdir / "manifest.sha256").write_text(registry.sha256_bytes(mbytes))  # attacker fixes the checksum too
    with pytest.raises(IntegrityError, match="not allowed"):
        registry.resolve(tmp_path, "toy", v)
    # same with a pickle disguised under an allowed name
    (vdir / "weights.pt").unlink()
    (vdir / WEIGHTS).write_bytes(payload)
    manifest["files"].pop("weights.pt")
    manifest["files"][WEIGHTS] = registry.sha256_bytes(payload)
    mbytes = json.dumps(manifest).encode()
    (vdir / "manifest.json").write_bytes(mbytes)
    (vdir / "manifest.sha256").write_text(registry.sha256_bytes(mbytes))
    with pytest.raises(IntegrityError, match="pickle"):
        registry.resolve(tmp_path, "toy", v)


def test_champion_promote_rollback(tmp_path: Path) -> None:
    assert registry.champion(tmp_path, "toy") is None
    v1 = _save(tmp_path, "v1", make_champion_if_none=True)
    v2 = _save(tmp_path, "v2", make_champion_if_none=True)
    assert registry.list_versions(tmp_path, "toy") == ["v1", "v2"]
    assert registry.champion(tmp_path, "toy") == v1
    sha = registry.promote("toy", v2, tmp_path)
    assert len(sha) == 64 and registry.champion(tmp_path, "toy") == v2
    assert registry.rollback("toy", tmp_path) == v1
    assert registry.champion(tmp_path, "toy") == v1
    with pytest.raises(RegistryError):
        registry.rollback("toy", tmp_path)
    with pytest.raises(RegistryError):
        _save(tmp_path, "v1")  # versions are immutable
    with pytest.raises(RegistryError):
        registry.promote("toy", "nope", tmp_path)
    with pytest.raises(RegistryError):
        registry.resolve(tmp_path, "toy", "../toy")



def test_champion_per_tier(tmp_path: Path) -> None:
    """A champion per (task, tier): champion.json is the fast one (as before tiers), champion.quality.json
    the quality one; promote follows the version's own tier; a manifest without a tier is fast."""
    f1 = _save(tmp_path, "f1", make_champion_if_none=True)
    q1 = _save(tmp_path, "q1", make_champion_if_none=True, tier="quality")
    q2 = _save(tmp_path, "q2", make_champion_if_none=True, tier="quality")
    assert registry.champion(tmp_path, "toy") == f1 == registry.champion(tmp_path, "toy", "fast")
    assert registry.champion(tmp_path, "toy", "quality") == q1
    assert (tmp_path / "toy" / "champion.quality.json").is_file()
    assert registry.resolve(tmp_path, "toy")[1]["tier"] == "fast"
    assert registry.resolve(tmp_path, "toy", tier="quality")[1]["version"] == q1
    registry.promote("toy", q2, tmp_path)
    assert registry.champion(tmp_path, "toy", "quality") == q2 and registry.champion(tmp_path, "toy") == f1
    assert registry.rollback("toy", tmp_path, "quality") == q1
    assert registry.version_tier(tmp_path, "toy", q2) == "quality"
    with pytest.raises(RegistryError, match="quality-tier version"):
        registry.resolve(tmp_path, "toy", q1, tier="fast")
    with pytest.raises(RegistryError, match="unknown tier"):
        _save(tmp_path, "x1", tier="huge")
    with pytest.raises(RegistryError, match="no quality-tier champion"):
        registry.resolve(tmp_path / "empty", "toy", tier="quality")
    assert registry.tier_of({"task": "toy"}) == "fast"  # a registry written before tiers


def test_load_predictor_dispatch(tmp_path: Path) -> None:
    v = _save(tmp_path, make_champion_if_none=True)
    seen: list[tuple[Path, str]] = []

    @registry.register_loader("toy")
    def _load(vdir: Path, manifest: dict[str, Any], device: str) -> str:
        seen.append((vdir, device))
        return manifest["version"]

    try:
        assert registry.load_predictor("toy", tmp_path) == v
        assert seen == [(tmp_path / "toy" / v, "cpu")]
        assert registry.load_predictor("toy", "unused", model_dir=tmp_path / "toy" / v) == v  # a copied dir
        assert seen[-1] == (tmp_path / "toy" / v, "cpu")
    finally:
        registry.LOADERS.pop("toy")
    with pytest.raises(RegistryError, match="no predictor module"):
        registry.load_predictor("toy", tmp_path)


def test_safetensors_header_that_starts_like_pickle_is_accepted() -> None:
    """A 640-byte header length encodes as b'\\x80\\x02...', the pickle protocol-2 magic: not a pickle."""
    from seqsignal.models.core.checkpoint import UnsafeFileError, check_safe

    header = b"{" + b" " * 638 + b"}"
    data = len(header).to_bytes(8, "little") + header
    assert data.startswith(b"\x80\x02")
    check_safe("model.safetensors", data)
    with pytest.raises(UnsafeFileError):
        check_safe("config.json", data)
    with pytest.raises(UnsafeFileError):
        check_safe("model.safetensors", pickle.dumps(list(range(300)), protocol=2))


def test_champion_manifest_must_match_alias(tmp_path: Path) -> None:
    v = _save(tmp_path, "v1", make_champion_if_none=True)
    alias = tmp_path / "toy" / "champion.json"
    data = json.loads(alias.read_text())
    data["manifest_sha256"] = "0" * 64  # the directory was swapped after promotion
    alias.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="promoted"):
        registry.resolve(tmp_path, "toy")
    assert registry.resolve(tmp_path, "toy", v)[1]["version"] == v  # explicit version: manifest checks only
