"""Rumour heads network: labels per head, the GRU encoder-decoder (`HeadsNet`) and a served `Group`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import torch
from torch import Tensor, nn

from seqsignal.models.text.lexical import Hasher, Vocab, normalize, pad

if TYPE_CHECKING:
    from seqsignal.models.text.rumor_lexical import Lexical

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
    """Encode ids with a GRU (+ lexical bag); one decoder step from the dataset's BOS token.

    The step's output is masked to that dataset's labels (Twitter15/16: non-rumor/false/true/unverified;
    Weibo, PHEME: non-rumour/rumour). The encoder state (a GRU over word tokens, single characters for
    Chinese, of `source [SEP] reply1 [SEP] ...`) is concatenated with the lexical vector (`lexical.Hasher`
    bags through an `nn.EmbeddingBag`) to start the decoder, and the lexical vector is also added to the
    output logits. A version holds one or more *groups* (a network with its vocab and idf, serving some
    of the heads): one group trained jointly on every dataset, or one per dataset.
    """

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
    """One network with its vocabulary and hasher, serving the heads of `net.config.datasets`; `lexical`:
    the linear lexical channel fused with a head, per dataset that has one (`rumor_lexical`)."""

    net: HeadsNet
    vocab: Vocab
    hasher: Hasher
    lexical: dict[str, Lexical] = field(default_factory=dict)

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
