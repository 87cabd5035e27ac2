"""Rumour fast tier: a GRU encoder-decoder with a hashed lexical channel and one head per dataset.

One decoder step from a dataset's BOS token, its output masked to that dataset's labels (Twitter15/16:
non-rumor/false/true/unverified; Weibo, PHEME: non-rumour/rumour). The encoder state (a GRU over word
tokens, single characters for Chinese, of `source [SEP] reply1 [SEP] ...`) is concatenated with the
lexical vector (`lexical.Hasher` bags through an `nn.EmbeddingBag`) to start the decoder, and the lexical
vector is also added to the output logits. A version holds one or more *groups* (a network with its vocab
and idf, serving some of the heads): one group trained jointly on every dataset, or one per dataset.

Serving (`RumorModel`): English threads are scored by the PHEME head (P(rumour), topical cues masked,
threshold chosen on an event-grouped inner split), Chinese ones by the Weibo head; the Weibo score is
mapped piecewise-linearly so that its own threshold lands on the served one. Veracity: the mean of the
Twitter15/16 heads' P(true, false, unverified), renormalised over those three.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text.lexical import Bags, Hasher, Vocab, is_chinese, normalize, pad

KIND: Final = "rumor-heads"
TWITTER_LABELS: tuple[str, ...] = ("non-rumor", "false", "true", "unverified")
BINARY_LABELS: tuple[str, ...] = ("non-rumour", "rumour")
HEAD_LABELS: dict[str, tuple[str, ...]] = {
    "twitter15": TWITTER_LABELS, "twitter16": TWITTER_LABELS, "weibo": BINARY_LABELS, "pheme": BINARY_LABELS,
}
MASK_TOPICAL: dict[str, bool] = {"pheme": True}  # heads whose inputs mask hashtags and numbers
VERACITY_ORDER: tuple[str, ...] = ("true", "false", "unverified")  # serving.RumorModel.veracity order


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild one group's network (JSON beside its safetensors)."""

    src_vocab_size: int
    datasets: tuple[str, ...]  # one BOS token each
    emb_dim: int = 64
    hidden_size: int = 64
    lex_buckets: int = 1 << 18
    lex_dim: int = 32
    dropout: float = 0.3
    max_len: int = 96

    @property
    def labels(self) -> tuple[tuple[str, ...], ...]:
        return tuple(HEAD_LABELS[d] for d in self.datasets)

    @property
    def tgt_tokens(self) -> tuple[str, ...]:
        """Target vocabulary: BOS per dataset, then every label once."""
        labels = sorted({x for ls in self.labels for x in ls})
        return tuple(f"<bos:{d}>" for d in self.datasets) + tuple(labels)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        return cls(**(d | {"datasets": tuple(d["datasets"])}))


class HeadsNet(nn.Module):
    """Encode ids with a GRU (+ lexical bag); one decoder step from the dataset's BOS token."""

    def __init__(self, c: NetConfig) -> None:
        super().__init__()
        self.config = c
        H = c.hidden_size
        self.embed = nn.Embedding(c.src_vocab_size, c.emb_dim, padding_idx=0)
        self.encoder = nn.GRU(c.emb_dim, H, batch_first=True)
        self.lex = nn.EmbeddingBag(c.lex_buckets, c.lex_dim, mode="sum", sparse=True)
        nn.init.normal_(self.lex.weight, std=0.05)
        self.bridge = nn.Linear(H + c.lex_dim, H)
        vocab = c.tgt_tokens
        self.tgt_embed = nn.Embedding(len(vocab), c.emb_dim)
        self.decoder = nn.GRU(c.emb_dim, H, batch_first=True)
        self.out = nn.Linear(H, len(vocab))
        self.lex_out = nn.Linear(c.lex_dim, len(vocab))
        self.drop = nn.Dropout(c.dropout)
        mask = torch.full((len(c.datasets), len(vocab)), float("-inf"))
        for d, labs in enumerate(c.labels):
            mask[d, [vocab.index(x) for x in labs]] = 0.0
        self.register_buffer("allowed", mask, persistent=False)

    def label_ids(self, dataset: str) -> list[int]:
        """Target-vocabulary ids of a head's labels, in HEAD_LABELS order."""
        vocab = self.config.tgt_tokens
        return [vocab.index(x) for x in HEAD_LABELS[dataset]]

    def forward(self, ids: Tensor, lengths: Tensor, dataset: Tensor,
                bag: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """ids (B, T), lengths (B,), dataset (B,) (= its BOS id), bag -> logits (B, V), -inf off the head."""
        emb = self.drop(self.embed(ids))
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.clamp(min=1), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.encoder(packed)  # (1, B, H)
        lexv = self.lex(bag[0], bag[1], per_sample_weights=bag[2])  # (B, D)
        h0 = torch.tanh(self.bridge(self.drop(torch.cat([h[0], lexv], dim=1)))).unsqueeze(0)
        out, _ = self.decoder(self.drop(self.tgt_embed(dataset)).unsqueeze(1), h0)
        logits = self.out(self.drop(out.squeeze(1))) + self.lex_out(lexv)
        allowed: Tensor = self.allowed  # type: ignore[assignment]
        return logits + allowed[dataset]


@dataclass
class Group:
    """One network with its vocabulary and hasher, serving the heads of `net.config.datasets`."""

    net: HeadsNet
    vocab: Vocab
    hasher: Hasher

    def inputs(self, sources: Sequence[str], replies: Sequence[Sequence[str]],
               datasets: Sequence[str]) -> tuple[Tensor, ...]:
        """(ids, lengths, dataset ids, bag ids, offsets, weights) of raw threads, each for its head."""
        c = self.net.config
        src = [normalize(s, MASK_TOPICAL.get(d, False)) for s, d in zip(sources, datasets, strict=True)]
        rep = [[normalize(r, MASK_TOPICAL.get(d, False)) for r in rs[:50]]
               for rs, d in zip(replies, datasets, strict=True)]
        ids, lengths = pad([self.vocab.thread(s, r, c.max_len) for s, r in zip(src, rep, strict=True)])
        b = self.hasher.bags(src, rep)
        ds = np.array([c.datasets.index(d) for d in datasets], dtype=np.int64)
        t = torch.from_numpy
        return t(ids), t(lengths), t(ds), t(b.ids), t(b.offsets), t(b.weights)

    @torch.inference_mode()
    def probs(self, sources: Sequence[str], replies: Sequence[Sequence[str]], dataset: str,
              batch_size: int = 512) -> np.ndarray:
        """(B, n_labels) over the head's labels (HEAD_LABELS order)."""
        self.net.eval()
        lab = self.net.label_ids(dataset)
        out = [np.zeros((0, len(lab)), dtype=np.float32)]
        for s in range(0, len(sources), batch_size):
            sl = slice(s, s + batch_size)
            ids, lengths, ds, bi, bo, bw = self.inputs(sources[sl], replies[sl], [dataset] * len(sources[sl]))
            logits = self.net(ids, lengths, ds, (bi, bo, bw))[:, lab]
            out.append(torch.softmax(logits, dim=1).numpy())
        return np.concatenate(out)


# ---- training ------------------------------------------------------------------------------------------
@dataclass
class HeadsOptions:
    """The fast-tier recipe (fixed a priori in the prototype; see docs/text_models.md)."""

    groups: str = "per-dataset"  # one network per head, or "joint": one network for every head
    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    lex_lr: float = 1e-2
    emb_dim: int = 64
    hidden_size: int = 64
    lex_buckets: int = 1 << 18
    max_len: int = 96
    seed: int = 0
    threshold_folds: int = 2  # event-grouped inner folds choosing the PHEME threshold (0: 0.5)
    epochs_per_dataset: dict[str, int] = field(
        default_factory=lambda: {"twitter15": 10, "twitter16": 10, "weibo": 6, "pheme": 6})


def _thread_texts(examples: Sequence[RumorExample]) -> tuple[list[str], list[list[str]], list[str]]:
    ds = [ex.dataset for ex in examples]
    src = [normalize(ex.text, MASK_TOPICAL.get(d, False)) for ex, d in zip(examples, ds, strict=True)]
    rep = [[normalize(r, MASK_TOPICAL.get(d, False)) for r in ex.replies[:50]]
           for ex, d in zip(examples, ds, strict=True)]
    return src, rep, ds


def fit_group(examples: Sequence[RumorExample], datasets: tuple[str, ...], opts: HeadsOptions,
              epochs: int) -> Group:
    """Train one network on `examples` (each with `.dataset` in `datasets`) for `epochs` epochs."""
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    src, rep, ds = _thread_texts(examples)
    vocab = Vocab.build(src + [r for rs in rep for r in rs])
    cfg = NetConfig(len(vocab.itos), datasets, opts.emb_dim, opts.hidden_size, opts.lex_buckets,
                    max_len=opts.max_len)
    hasher = Hasher(cfg.lex_buckets)
    counts = hasher.counts(src, rep)
    hasher.fit(counts)
    bags = hasher.weigh(counts)
    rows = [vocab.thread(s, r, cfg.max_len) for s, r in zip(src, rep, strict=True)]
    tgt_vocab = cfg.tgt_tokens
    target = np.array([tgt_vocab.index(_label(ex)) for ex in examples], dtype=np.int64)
    dsi = np.array([datasets.index(d) for d in ds], dtype=np.int64)
    net = HeadsNet(cfg)
    lex = [p for n, p in net.named_parameters() if n.startswith("lex.")]
    dense = [p for n, p in net.named_parameters() if not n.startswith("lex.")]
    optims: list[torch.optim.Optimizer] = [torch.optim.Adam(dense, lr=opts.lr),
                                           torch.optim.SparseAdam(lex, lr=opts.lex_lr)]
    t = torch.from_numpy
    for _ in range(epochs):
        net.train()
        order = rng.permutation(len(rows))
        for s in range(0, len(order), opts.batch_size):
            idx = order[s : s + opts.batch_size]
            ids, lengths = pad([rows[i] for i in idx])
            b = Bags.of(bags[idx])
            logits = net(t(ids), t(lengths), t(dsi[idx]), (t(b.ids), t(b.offsets), t(b.weights)))
            loss = F.cross_entropy(logits, t(target[idx]))
            for o in optims:
                o.zero_grad()
            loss.backward()
            for o in optims:
                o.step()
    return Group(net.eval(), vocab, hasher)


def _label(ex: RumorExample) -> str:
    if ex.dataset in ("twitter15", "twitter16"):
        return str(ex.veracity)
    return ex.label


def fit_heads(train: Sequence[RumorExample], opts: HeadsOptions) -> tuple[dict[str, Group], float]:
    """The groups of a version (joint: one; per-dataset: one per dataset present) and CPU seconds."""
    present = tuple(d for d in HEAD_LABELS if any(ex.dataset == d for ex in train))
    c0 = time.process_time()
    if opts.groups == "joint":
        epochs = opts.epochs
        groups = {"joint": fit_group(train, present, opts, epochs)}
    elif opts.groups == "per-dataset":
        groups = {d: fit_group([ex for ex in train if ex.dataset == d], (d,), opts,
                               opts.epochs_per_dataset.get(d, opts.epochs)) for d in present}
    else:
        raise ValueError(f"groups must be joint or per-dataset, not {opts.groups!r}")
    return groups, time.process_time() - c0


def pheme_threshold(pheme: Sequence[RumorExample], opts: HeadsOptions) -> tuple[float, dict[str, Any]]:
    """The PHEME head's flag threshold: max rumour F1 over out-of-fold scores of event-grouped inner folds
    (a PHEME-only network per fold, trained on the other events' groups), so it is chosen on events the
    scoring network never saw, as live threads will be."""
    from sklearn.model_selection import GroupKFold

    from seqsignal.models.text.recipes import tune_threshold

    events = [str(ex.event) for ex in pheme]
    k = min(opts.threshold_folds, len(set(events)))
    if k < 2:
        return 0.5, {"rule": "0.5 (fewer than 2 events)"}
    oof = np.zeros(len(pheme), dtype=np.float64)
    for tr, te in GroupKFold(k).split(np.zeros(len(pheme)), groups=events):
        g = fit_group([pheme[i] for i in tr], ("pheme",), opts, opts.epochs_per_dataset.get("pheme", 6))
        held = [pheme[i] for i in te]
        oof[te] = g.probs([ex.text for ex in held], [list(ex.replies) for ex in held], "pheme")[:, 1]
    thr = tune_threshold([ex.is_rumour for ex in pheme], oof)
    return thr, {"rule": f"max rumour F1 over out-of-fold scores, {k} event-grouped folds", "folds": k}


# ---- the served predictor ------------------------------------------------------------------------------
class HeadsPredictor:
    """`RumorModel` over the heads of one version; `head_probs` scores a thread with a named head."""

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
        """(B, n_labels) in HEAD_LABELS[dataset] order."""
        if dataset not in self._of:
            raise KeyError(f"no {dataset} head in this version (heads: {', '.join(self._of)})")
        return self._of[dataset].probs(list(sources), [list(r) for r in replies], dataset)

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
        """config.json (kind, groups, thresholds); per group <g>.safetensors (weights, idf), vocab."""
        from safetensors.torch import save

        cfg = {"kind": KIND, "thresholds": self.thresholds, "meta": self.meta,
               "groups": {n: asdict(g.net.config) for n, g in self.groups.items()}}
        out = {"config.json": json.dumps(cfg, indent=1, sort_keys=True).encode()}
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
