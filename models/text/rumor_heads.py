"""Rumour fast tier served: `HeadsPredictor` over a version's heads, its registry files and loading."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from seqsignal.models.text.lexical import Hasher, Vocab, is_chinese
from seqsignal.models.text.rumor_heads_network import (
    BINARY_LABELS,
    HEAD_LABELS,
    KIND,
    MASK_TOPICAL,
    TWITTER_LABELS,
    VERACITY_ORDER,
    Group,
    HeadsNet,
    NetConfig,
)
from seqsignal.models.text.rumor_heads_training import HeadsOptions, fit_group, fit_heads, pheme_threshold
from seqsignal.models.text.rumor_lexical import Lexical
from seqsignal.models.text.sentiment_lexical import LexicalHead, fuse


class HeadsPredictor:
    """`RumorModel` over the heads of one version; `head_probs` scores a thread with a named head.

    English threads are scored by the PHEME head (P(rumour), topical cues masked, threshold chosen on an
    event-grouped inner split), Chinese ones by the Weibo head; the Weibo score is mapped piecewise-linearly
    so that its own threshold lands on the served one. Veracity: the mean of the Twitter15/16 heads'
    P(true, false, unverified), renormalised over those three.
    """

    task: Literal["rumor"] = "rumor"
    tier: str = "fast"

    def __init__(self, groups: dict[str, Group], thresholds: dict[str, float], version: str = "unsaved",
                 meta: dict[str, Any] | None = None, english: Any = None) -> None:
        self.english = english  # a `rumor.RumorPredictor` (today's Seq2Seq) scoring English threads, or None
        self.groups = groups
        self.thresholds = thresholds
        self.version = version
        self.meta = meta or {}
        self._of = {d: g for g in groups.values() for d in g.net.config.datasets}

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self._of)

    @property
    def decision_threshold(self) -> float:
        if self.english is not None:
            return float(self.english.decision_threshold)
        return float(self.thresholds.get("pheme", 0.5))

    def head_probs(self, dataset: str, sources: Sequence[str],
                   replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, n_labels) in HEAD_LABELS[dataset] order: the head fused with its lexical channel where the
        version has one (`rumor_lexical`), else the head alone."""
        return self.parts(dataset, sources, replies)["served"]

    def parts(self, dataset: str, sources: Sequence[str],
              replies: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """(B, n_labels) probabilities of `head` alone, `lexical` alone (where there is a channel) and
        `served` (the fusion, or the head)."""
        if dataset not in self._of:
            raise KeyError(f"no {dataset} head in this version (heads: {', '.join(self._of)})")
        group = self._of[dataset]
        head = group.probs(list(sources), [list(r) for r in replies], dataset)
        lex = group.lexical.get(dataset)
        if lex is None:
            return {"head": head, "served": head}
        log_lex = lex.log_probs(sources)
        return {"head": head, "lexical": np.exp(log_lex).astype(np.float32),
                "served": fuse(head, log_lex, lex.weight)}

    def _remap(self, p: np.ndarray, own: float) -> np.ndarray:
        """Monotone piecewise-linear map sending a head's own threshold to the served one."""
        t = self.decision_threshold
        lo = p * (t / max(own, 1e-9))
        hi = t + (p - own) * (1 - t) / max(1 - own, 1e-9)
        return np.where(p < own, lo, hi)

    def score(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        if len(sources) != len(replies):
            raise ValueError(f"{len(sources)} sources but {len(replies)} reply lists")
        out = np.zeros(len(sources), dtype=np.float32)
        zh = np.array([is_chinese(s) for s in sources], dtype=bool)
        for mask, head in ((~zh, "pheme"), (zh, "weibo")):
            if not mask.any():
                continue
            idx = [int(i) for i in np.flatnonzero(mask)]
            if head == "pheme" and self.english is not None:  # the better PHEME recipe (LOEO), kept
                out[idx] = self.english.score([sources[i] for i in idx], [replies[i] for i in idx])
                continue
            if head not in self._of:
                head = "pheme" if "pheme" in self._of else "weibo"
            p = self.head_probs(head, [sources[i] for i in idx], [replies[i] for i in idx])[:, 1]
            out[idx] = self._remap(p, self.thresholds.get(head, 0.5)) if head != "pheme" else p
        return out

    def veracity(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, 3) P(true, false, unverified | rumour): mean of the Twitter heads present."""
        heads = [h for h in ("twitter15", "twitter16") if h in self._of]
        if not len(sources) or not heads:
            return np.full((len(sources), 3), 1 / 3, dtype=np.float32)
        idx = [TWITTER_LABELS.index(v) for v in VERACITY_ORDER]
        p = np.mean([self.head_probs(h, sources, replies)[:, idx] for h in heads], axis=0)
        return (p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def warm_up(self) -> None:
        self.score(["warm up", "预热"], [["ok"], []])
        self.veracity(["warm up"], [["ok"]])

    # ---- registry files --------------------------------------------------------------------------------
    def files(self) -> dict[str, bytes]:
        """config.json (kind, groups, thresholds, lexical channels' weights); per group <g>.safetensors
        (weights, idf), vocab; per lexical channel <dataset>.lexical.safetensors."""
        from safetensors.torch import save

        cfg: dict[str, Any] = {"kind": KIND, "thresholds": self.thresholds, "meta": self.meta,
                               "groups": {n: asdict(g.net.config) for n, g in self.groups.items()}}
        lexical = {d: (n, lex) for n, g in self.groups.items() for d, lex in g.lexical.items()}
        if lexical:
            cfg["lexical"] = {d: {"group": n, "weight": lex.weight, "file": f"{d}.lexical.safetensors",
                                  "choice": lex.choice} for d, (n, lex) in lexical.items()}
        out = {"config.json": json.dumps(cfg, indent=1, sort_keys=True).encode()}
        out |= {f"{d}.lexical.safetensors": lex.head.to_bytes() for d, (_, lex) in lexical.items()}
        if self.english is not None:
            from seqsignal.models.text.model import text_model_files

            cfg["english"] = "english.*: the Seq2Seq scoring English threads"
            en = text_model_files(self.english.model, self.english.config, self.english.tokenizer)
            out |= {f"english.{k}": v for k, v in en.items()}
            out["config.json"] = json.dumps(cfg, indent=1, sort_keys=True).encode()
        for n, g in self.groups.items():
            tensors = {k: v.detach().contiguous() for k, v in g.net.state_dict().items()}
            tensors["hasher.idf"] = torch.from_numpy(g.hasher.idf.astype(np.float32))
            out[f"{n}.safetensors"] = save(tensors)
            out[f"{n}.vocab.json"] = json.dumps(g.vocab.itos, ensure_ascii=False).encode()
        return out


def is_heads_version(version_dir: Path) -> bool:
    try:
        return json.loads((version_dir / "config.json").read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError):
        return False


def load_heads(version_dir: Path, version: str, device: str = "cpu") -> HeadsPredictor:
    """A verified version directory -> HeadsPredictor (safetensors + JSON only; CPU inference)."""
    from safetensors.torch import load_file

    cfg = json.loads((version_dir / "config.json").read_text(encoding="utf-8"))
    groups = {}
    for name, raw in cfg["groups"].items():
        net = HeadsNet(NetConfig.from_dict(raw))
        tensors = load_file(str(version_dir / f"{name}.safetensors"))
        idf = tensors.pop("hasher.idf").numpy()
        net.load_state_dict(tensors)
        vocab = Vocab(json.loads((version_dir / f"{name}.vocab.json").read_text(encoding="utf-8")))
        groups[name] = Group(net.eval(), vocab, Hasher(len(idf), idf))
    for d, raw in cfg.get("lexical", {}).items():  # older versions have none: their heads serve alone
        head = LexicalHead.from_bytes((version_dir / raw["file"]).read_bytes())
        groups[raw["group"]].lexical[d] = Lexical(head, float(raw["weight"]), raw.get("choice", {}))
    thresholds = {k: float(v) for k, v in cfg["thresholds"].items()}
    english = _load_english(version_dir, version, device) if cfg.get("english") else None
    return HeadsPredictor(groups, thresholds, version, cfg.get("meta"), english)


def _load_english(version_dir: Path, version: str, device: str) -> Any:
    """The embedded Seq2Seq (`english.model.safetensors`, `english.config.json`, `english.tokenizer.json`)."""
    from seqsignal.models.core.checkpoint import load_into
    from seqsignal.models.core.seq2seq import Seq2Seq, Seq2SeqConfig
    from seqsignal.models.text.model import TextModelConfig
    from seqsignal.models.text.rumor import RumorPredictor
    from seqsignal.models.text.tokenizer import TextTokenizer

    raw = json.loads((version_dir / "english.config.json").read_text(encoding="utf-8"))
    model = Seq2Seq(Seq2SeqConfig.from_dict(raw["seq2seq"]))
    load_into(model, (version_dir / "english.model.safetensors").read_bytes(), device)
    tok = TextTokenizer.from_json((version_dir / "english.tokenizer.json").read_text(encoding="utf-8"))
    return RumorPredictor(model.eval(), tok, TextModelConfig.from_dict(raw["text"]), version, device)


__all__ = [
    "BINARY_LABELS",
    "HEAD_LABELS",
    "KIND",
    "MASK_TOPICAL",
    "TWITTER_LABELS",
    "VERACITY_ORDER",
    "Group",
    "HeadsNet",
    "HeadsOptions",
    "HeadsPredictor",
    "NetConfig",
    "fit_group",
    "fit_heads",
    "is_heads_version",
    "load_heads",
    "pheme_threshold",
]
