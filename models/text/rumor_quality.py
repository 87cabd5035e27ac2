"""Rumour quality tier served: `QualityRumorPredictor` (a MiniLM + GRU decoder per dataset, optionally fused
with the fast tier's head of that dataset), its registry files (safetensors + JSON) and loading.

A version holds one `QualitySeq2Seq` per dataset (Twitter15/16: non-rumor / false / true / unverified;
Weibo, PHEME: non-rumour / rumour, `rumor_heads_network.HEAD_LABELS` order) over the thread
`[CLS] source [SEP] reply1 [SEP] reply2 ... [SEP]` in MiniLM's WordPiece (earliest replies first, at most
`max_len` pieces). Where fusion was shipped for a dataset, its label distribution is fused log-linearly
with that dataset's fast-tier head (`sentiment_lexical.fuse`, weight chosen on the selection split).
Files: config.json (`kind: rumor-quality`, per-dataset QualityConfig, fusion weights, thresholds),
`<dataset>.safetensors`, tokenizer.json, and per fused dataset `heads.<dataset>.safetensors` +
`heads.<dataset>.vocab.json`; no pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch

from seqsignal.models.text.lexical import Hasher, Vocab, is_chinese
from seqsignal.models.text.quality_model import QualityConfig, QualitySeq2Seq, WordPiece, label_probs
from seqsignal.models.text.rumor_heads_network import (
    HEAD_LABELS,
    TWITTER_LABELS,
    VERACITY_ORDER,
    Group,
    HeadsNet,
    NetConfig,
)
from seqsignal.models.text.sentiment_lexical import fuse

KIND: Final = "rumor-quality"
MAX_LEN: Final = 128  # word pieces of a thread, [CLS] and the [SEP]s included
MAX_SOURCE: Final = 80  # word pieces of the source (the rest goes to replies, earliest first)
MAX_REPLY: Final = 32  # word pieces per reply
MAX_REPLIES: Final = 20  # replies tokenised per thread (more never fit in MAX_LEN)


def thread_rows(tok: WordPiece, sources: Sequence[str], replies: Sequence[Sequence[str]],
                max_len: int = MAX_LEN) -> list[list[int]]:
    """`[CLS] source [SEP] reply1 [SEP] ...` id rows: the source cut to MAX_SOURCE pieces, each reply to
    MAX_REPLY, replies in time order until `max_len` is reached (the earliest kept)."""
    if len(sources) != len(replies):
        raise ValueError(f"{len(sources)} sources but {len(replies)} reply lists")
    src = tok.encode(list(sources), 10**6)
    firsts = [list(rs[:MAX_REPLIES]) for rs in replies]
    flat = tok.encode([r for rs in firsts for r in rs], 10**6) if any(firsts) else []
    rows, k = [], 0
    for s, rs in zip(src, firsts, strict=True):
        cls, sep = s[0], s[-1]
        row = [cls, *s[1:-1][: min(MAX_SOURCE, max_len - 2)], sep]
        for r in flat[k : k + len(rs)]:
            room = max_len - len(row) - 1  # one [SEP] closes each reply
            if room <= 0:
                break
            row += [*r[1:-1][: min(MAX_REPLY, room)], sep]
        k += len(rs)
        rows.append(row)
    return rows


class QualityRumorPredictor:
    """`RumorModel` over a MiniLM network per dataset; `head_probs` scores threads with a named dataset's
    network (as the fast tier's `HeadsPredictor`, so `eval rumor` scores a file with its own head).

    English threads: P(rumour) of the PHEME network (flag threshold chosen on the selection split);
    Chinese ones: the Weibo network, mapped piecewise-linearly so its own threshold (0.5) lands on the
    served one. Veracity: the mean of the Twitter15/16 networks' P(true, false, unverified), renormalised.
    """

    task: Literal["rumor"] = "rumor"
    tier: Literal["quality"] = "quality"
    english: Any = None  # the fast tier's embedded English Seq2Seq slot (never set here)

    def __init__(self, nets: dict[str, QualitySeq2Seq], configs: dict[str, QualityConfig], tok: WordPiece,
                 thresholds: dict[str, float], fusion: dict[str, tuple[float, Group]] | None = None,
                 version: str = "unsaved", device: str = "cpu", meta: dict[str, Any] | None = None,
                 batch_size: int = 64) -> None:
        self.nets = {d: n.eval().to(device) for d, n in nets.items()}
        self.configs = configs
        self.tokenizer = tok
        self.thresholds = thresholds
        self.fusion = fusion or {}
        self.version = version
        self.device = device
        self.meta = meta or {}
        self.batch_size = batch_size

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self.nets)

    @property
    def decision_threshold(self) -> float:
        return float(self.thresholds.get("pheme", 0.5))

    def quality_probs(self, dataset: str, sources: Sequence[str],
                      replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, n_labels) of the dataset's MiniLM network alone (HEAD_LABELS order)."""
        if dataset not in self.nets:
            raise KeyError(f"no {dataset} network in this version (datasets: {', '.join(self.nets)})")
        rows = thread_rows(self.tokenizer, sources, replies, self.configs[dataset].max_len)
        if not rows:
            return np.zeros((0, len(HEAD_LABELS[dataset])), dtype=np.float32)
        return label_probs(self.nets[dataset], rows, self.device, self.batch_size)

    def head_probs(self, dataset: str, sources: Sequence[str],
                   replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, n_labels) in HEAD_LABELS[dataset] order, fused with the fast head where that was shipped."""
        p = self.quality_probs(dataset, sources, replies)
        if dataset not in self.fusion or not len(p):
            return p
        w, group = self.fusion[dataset]
        lex = group.probs(list(sources), [list(r) for r in replies], dataset)
        return fuse(p, np.log(np.maximum(lex.astype(np.float64), 1e-12)), w)

    def _remap(self, p: np.ndarray, own: float) -> np.ndarray:
        """Monotone piecewise-linear map sending a network's own threshold to the served one."""
        t = self.decision_threshold
        return np.where(p < own, p * (t / max(own, 1e-9)), t + (p - own) * (1 - t) / max(1 - own, 1e-9))

    def score(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        if len(sources) != len(replies):
            raise ValueError(f"{len(sources)} sources but {len(replies)} reply lists")
        out = np.zeros(len(sources), dtype=np.float32)
        zh = np.array([is_chinese(s) for s in sources], dtype=bool)
        for mask, head in ((~zh, "pheme"), (zh, "weibo")):
            if not mask.any():
                continue
            if head not in self.nets:
                head = "pheme" if "pheme" in self.nets else "weibo"
            idx = [int(i) for i in np.flatnonzero(mask)]
            p = self.head_probs(head, [sources[i] for i in idx], [replies[i] for i in idx])[:, 1]
            out[idx] = p if head == "pheme" else self._remap(p, self.thresholds.get(head, 0.5))
        return out

    def veracity(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, 3) P(true, false, unverified | rumour): mean of the Twitter networks present."""
        heads = [h for h in ("twitter15", "twitter16") if h in self.nets]
        if not len(sources) or not heads:
            return np.full((len(sources), 3), 1 / 3, dtype=np.float32)
        idx = [TWITTER_LABELS.index(v) for v in VERACITY_ORDER]
        p = np.mean([self.head_probs(h, sources, replies)[:, idx] for h in heads], axis=0)
        return (p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def warm_up(self) -> None:
        self.score(["warm up", "预热"], [["ok"], []])
        self.veracity(["warm up"], [["ok"]])

    def files(self) -> dict[str, bytes]:
        """config.json, tokenizer.json, `<dataset>.safetensors`, `heads.<dataset>.*` of fused datasets."""
        from safetensors.torch import save

        from seqsignal.models.core.checkpoint import weights_bytes

        cfg = {"kind": KIND, "thresholds": self.thresholds, "meta": self.meta,
               "nets": {d: c.to_dict() for d, c in self.configs.items()},
               "fusion": {d: {"weight": w, "heads": asdict(g.net.config)}
                          for d, (w, g) in self.fusion.items()}}
        out = {"config.json": json.dumps(cfg, indent=1, sort_keys=True).encode(),
               "tokenizer.json": self.tokenizer.json.encode("utf-8")}
        for d, net in self.nets.items():
            out[f"{d}.safetensors"] = weights_bytes(net.to("cpu"))
            net.to(self.device)
        for d, (_, g) in self.fusion.items():
            tensors = {k: v.detach().contiguous() for k, v in g.net.state_dict().items()}
            tensors["hasher.idf"] = torch.from_numpy(g.hasher.idf.astype(np.float32))
            out[f"heads.{d}.safetensors"] = save(tensors)
            out[f"heads.{d}.vocab.json"] = json.dumps(g.vocab.itos, ensure_ascii=False).encode()
        return out


def is_quality_version(version_dir: Path) -> bool:
    try:
        return json.loads((version_dir / "config.json").read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError):
        return False


def _load_group(version_dir: Path, dataset: str, raw: dict[str, Any]) -> Group:
    from safetensors.torch import load_file

    net = HeadsNet(NetConfig.from_dict(raw))
    tensors = load_file(str(version_dir / f"heads.{dataset}.safetensors"))
    idf = tensors.pop("hasher.idf").numpy()
    net.load_state_dict(tensors)
    vocab = Vocab(json.loads((version_dir / f"heads.{dataset}.vocab.json").read_text(encoding="utf-8")))
    return Group(net.eval(), vocab, Hasher(len(idf), idf))


def load_rumor_quality(version_dir: Path, manifest: dict[str, Any], device: str = "cpu"
                       ) -> QualityRumorPredictor:
    """The rumor loader's quality-tier branch (files already verified by the registry; never unpickles)."""
    from seqsignal.models.core.checkpoint import load_into
    from seqsignal.models.text.quality_model import build_quality_model

    cfg = json.loads((version_dir / "config.json").read_text(encoding="utf-8"))
    if cfg.get("kind") != KIND:
        raise ValueError(f"{version_dir} is not a rumor quality-tier version (kind {cfg.get('kind')!r})")
    nets, configs = {}, {}
    for d, raw in cfg["nets"].items():
        configs[d] = QualityConfig.from_dict(raw)
        if configs[d].labels != HEAD_LABELS[d]:
            raise ValueError(f"{version_dir}: {d} labels {configs[d].labels} != {HEAD_LABELS[d]}")
        nets[d] = build_quality_model(configs[d], pretrained=False)
        load_into(nets[d], (version_dir / f"{d}.safetensors").read_bytes(), device)
    fusion = {d: (float(f["weight"]), _load_group(version_dir, d, f["heads"]))
              for d, f in cfg.get("fusion", {}).items()}
    tok = WordPiece((version_dir / "tokenizer.json").read_text(encoding="utf-8"))
    thresholds = {k: float(v) for k, v in cfg["thresholds"].items()}
    return QualityRumorPredictor(nets, configs, tok, thresholds, fusion, str(manifest["version"]),
                                 device, cfg.get("meta"))
