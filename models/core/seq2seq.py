"""GRU encoder-decoder (optional Luong/Bahdanau attention) with teacher forcing, greedy and beam decoding."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Imports only torch on purpose: benchmarks/gpu_bench.py loads this file by path where the package is absent.
Attention = Literal["none", "luong", "bahdanau"]
C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as the JSON object saved in config.json (tuple fields become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(cls: type[C], d: Mapping[str, Any]) -> C:
    """The config dataclass back from `config_to_dict` output: keys it does not know (written by a newer or
    older version) are dropped, and its tuple fields become tuples again."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    known = {k: tuple(v) if fields[k].startswith("tuple") else v for k, v in d.items() if k in fields}
    return cls(**known)


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything needed to rebuild the model; saved inside every checkpoint (config.json)."""

    tgt_vocab_size: int
    hidden_size: int = 64
    num_layers: int = 1
    src_vocab_size: int = 0  # > 0: inputs are token ids embedded here; 0: inputs are feature vectors
    input_dim: int = 0  # feature size when src_vocab_size == 0 (or the caller's embedding output size)
    emb_dim: int = 32  # source/target token embedding size
    attention: Attention = "none"
    dropout: float = 0.0
    bos_id: int = 0
    eos_id: int = -1  # -1: no end token, sequences run to max_len
    pad_id: int = -100  # ignored by the loss (and never emitted when a valid id)
    max_len: int = 16
    never_emit: tuple[int, ...] = field(default_factory=tuple)  # ids masked out of decoder outputs

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seq2SeqConfig:
        return config_from_dict(cls, d)


class Decoded(NamedTuple):
    """A batch of decoded sequences."""

    tokens: Tensor  # (B, T) long
    token_logprobs: Tensor  # (B, T) log p of each chosen token (0 after EOS)
    seq_logprob: Tensor  # (B,) sum of token_logprobs


class Seq2Seq(nn.Module):
    """GRU encoder over input embeddings, GRU decoder over output tokens, optional attention."""

    def __init__(self, config: Seq2SeqConfig, input_embed: nn.Module | None = None) -> None:
        super().__init__()
        c = self.config = config
        if input_embed is not None:
            self.input_embed: nn.Module = input_embed
            in_dim = c.input_dim or c.emb_dim
        elif c.src_vocab_size > 0:
            self.input_embed = nn.Embedding(c.src_vocab_size, c.emb_dim)
            in_dim = c.emb_dim
        else:
            if c.input_dim <= 0:
                raise ValueError("need src_vocab_size > 0, input_dim > 0 or an input_embed module")
            self.input_embed = nn.Identity()
            in_dim = c.input_dim
        drop = c.dropout if c.num_layers > 1 else 0.0
        H = c.hidden_size
        self.encoder = nn.GRU(in_dim, H, c.num_layers, batch_first=True, dropout=drop)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.emb_dim)
        dec_in = c.emb_dim + (H if c.attention == "bahdanau" else 0)
        self.decoder = nn.GRU(dec_in, H, c.num_layers, batch_first=True, dropout=drop)
        self.dropout = nn.Dropout(c.dropout)
        if c.attention == "luong":  # general score h^T W e, output tanh(W_c [ctx; h])
            self.att_w = nn.Linear(H, H, bias=False)
            self.att_out = nn.Linear(2 * H, H)
        elif c.attention == "bahdanau":  # additive score v^T tanh(W_q h + W_k e)
            self.att_q = nn.Linear(H, H, bias=False)
            self.att_k = nn.Linear(H, H)
            self.att_v = nn.Linear(H, 1, bias=False)
            self.att_out = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, c.tgt_vocab_size)
        mask = torch.zeros(c.tgt_vocab_size)
        for i in c.never_emit:
            mask[i] = float("-inf")
        self.register_buffer("emit_mask", mask, persistent=False)

    # ------------------------------------------------------------------------------------------ encoder
    def encode(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Full encode. x: (B, T) ids or (B, T, F) features; lengths: (B,) valid steps (right padding).

        Returns outputs (B, T, H) (zeros past each length) and the final state (L, B, H) at each length.
        """
        emb = self.dropout(self.input_embed(x))  # (B, T, E)
        if lengths is None:
            out, h = self.encoder(emb)  # (B, T, H), (L, B, H)
            return out, h
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu().clamp(min=1), batch_first=True,
                                                   enforce_sorted=False)
        out_p, h = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out_p, batch_first=True, total_length=emb.size(1))
        return out, h  # (B, T, H), (L, B, H)

    def encode_step(self, x_t: Tensor, h: Tensor | None) -> Tensor:
        """One incremental encoder step. x_t: (B,) ids or (B, F) features; h: (L, B, H) or None.

        Returns the new state (L, B, H); equals a full encode of the window extended by x_t.
        """
        emb = self.input_embed(x_t.unsqueeze(1))  # (B, 1, E)
        _, h_new = self.encoder(emb, h)
        return h_new  # (L, B, H)

    def initial_state(self, batch: int, device: torch.device | None = None) -> Tensor:
        c = self.config
        return torch.zeros(c.num_layers, batch, c.hidden_size, device=device)  # (L, B, H)

    # ------------------------------------------------------------------------------------------ decoder
    def _attend(self, q: Tensor, mem: Tensor, mask: Tensor | None) -> Tensor:
        """q: (B, H) query, mem: (B, S, H), mask: (B, S) True where valid -> context (B, H)."""
        if self.config.attention == "luong":
            scores = torch.bmm(mem, self.att_w(q).unsqueeze(2)).squeeze(2)  # (B, S)
        else:
            scores = self.att_v(torch.tanh(self.att_q(q).unsqueeze(1) + self.att_k(mem))).squeeze(2)  # (B, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores, dim=1)  # (B, S)
        return torch.bmm(w.unsqueeze(1), mem).squeeze(1)  # (B, H)

    def decode_step(self, y_prev: Tensor, h: Tensor, mem: Tensor | None = None,
                    mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One decoder step. y_prev: (B,) ids, h: (L, B, H) -> logits (B, V), new h (L, B, H)."""
        emb = self.dropout(self.tgt_embed(y_prev))  # (B, E)
        att = self.config.attention
        if att == "bahdanau":
            assert mem is not None, "bahdanau attention needs encoder outputs"
            ctx = self._attend(h[-1], mem, mask)  # (B, H)
            emb = torch.cat([emb, ctx], dim=1)  # (B, E + H)
        out, h = self.decoder(emb.unsqueeze(1), h)  # (B, 1, H), (L, B, H)
        o = out.squeeze(1)  # (B, H)
        if att == "luong":
            assert mem is not None, "luong attention needs encoder outputs"
            o = torch.tanh(self.att_out(torch.cat([self._attend(o, mem, mask), o], dim=1)))  # (B, H)
        elif att == "bahdanau":
            o = torch.tanh(self.att_out(torch.cat([ctx, o], dim=1)))  # (B, H)
        logits = self.out(self.dropout(o)) + self.emit_mask  # (B, V)
        return logits, h

    def decode_teacher(self, h: Tensor, targets: Tensor, mem: Tensor | None = None,
                       mask: Tensor | None = None) -> Tensor:
        """Teacher forcing: feed BOS then the gold tokens. targets: (B, T) -> logits (B, T, V)."""
        B, T = targets.shape
        y = torch.full((B,), self.config.bos_id, dtype=torch.long, device=targets.device)
        steps = []
        for t in range(T):
            logits, h = self.decode_step(y, h, mem, mask)  # (B, V)
            steps.append(logits)
            y = targets[:, t].clamp(min=0)  # pad (-100) positions feed a harmless id; the loss ignores them
        return torch.stack(steps, dim=1)  # (B, T, V)

    def forward(self, x: Tensor, targets: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced logits (B, T, V) and mean cross-entropy; without targets, greedy-decode logits."""
        mem, h = self.encode(x, lengths)  # (B, S, H), (L, B, H)
        mask = _length_mask(lengths, mem.size(1)) if lengths is not None else None
        if targets is None:
            return self._greedy(h, self.config.max_len, mem, mask)[1], None
        logits = self.decode_teacher(h, targets, mem, mask)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                               ignore_index=self.config.pad_id)
        return logits, loss

    # ---------------------------------------------------------------------------------------- inference
    def _greedy(self, h: Tensor, max_len: int, mem: Tensor | None, mask: Tensor | None,
                bias: Tensor | None = None) -> tuple[Decoded, Tensor]:
        B = h.size(1)
        c = self.config
        y = torch.full((B,), c.bos_id, dtype=torch.long, device=h.device)
        done = torch.zeros(B, dtype=torch.bool, device=h.device)
        toks, lps, all_logits = [], [], []
        for _ in range(max_len):
            logits, h = self.decode_step(y, h, mem, mask)  # (B, V)
            logp = torch.log_softmax(logits, dim=1)  # (B, V)
            y = (logp if bias is None else logp + bias).argmax(dim=1)  # (B,)
            lp = logp.gather(1, y.unsqueeze(1)).squeeze(1)  # (B,) reported without the bias
            lp = lp.masked_fill(done, 0.0)
            if c.eos_id >= 0:
                y = y.masked_fill(done, c.eos_id)
                done = done | (y == c.eos_id)
            toks.append(y)
            lps.append(lp)
            all_logits.append(logits)
            if c.eos_id >= 0 and bool(done.all()):
                break
        tokens, token_lp = torch.stack(toks, 1), torch.stack(lps, 1)  # (B, T), (B, T)
        return Decoded(tokens, token_lp, token_lp.sum(1)), torch.stack(all_logits, 1)

    @torch.no_grad()
    def greedy(self, h: Tensor, max_len: int | None = None, mem: Tensor | None = None,
               mask: Tensor | None = None, bias: Tensor | None = None) -> Decoded:
        """Batched greedy decoding from encoder state h: (L, B, H).

        bias: (V,) added to log-probs to *choose* tokens (a decision rule, e.g. prior correction for
        macro-F1); reported probabilities stay the model's own."""
        return self._greedy(h, max_len or self.config.max_len, mem, mask, bias)[0]

    @torch.no_grad()
    def beam_search(self, h: Tensor, beam_size: int, max_len: int | None = None, mem: Tensor | None = None,
                    mask: Tensor | None = None, bias: Tensor | None = None) -> Decoded:
        """Batched beam search (sum of log-probs, no length penalty); returns the best beam per row.

        bias: (V,) as in `greedy`: beams are ranked by biased scores, reported log-probs are unbiased."""
        c = self.config
        T = max_len or c.max_len
        K = beam_size
        B = h.size(1)
        V = c.tgt_vocab_size
        h = h.repeat_interleave(K, dim=1)  # (L, B*K, H)
        if mem is not None:
            mem = mem.repeat_interleave(K, dim=0)  # (B*K, S, H)
        if mask is not None:
            mask = mask.repeat_interleave(K, dim=0)  # (B*K, S)
        scores = torch.full((B, K), float("-inf"), device=h.device)
        scores[:, 0] = 0.0  # only one live beam at the start
        y = torch.full((B * K,), c.bos_id, dtype=torch.long, device=h.device)
        done = torch.zeros(B, K, dtype=torch.bool, device=h.device)
        toks = torch.zeros(B, K, 0, dtype=torch.long, device=h.device)
        lps = torch.zeros(B, K, 0, device=h.device)
        for _ in range(T):
            logits, h = self.decode_step(y, h, mem, mask)  # (B*K, V)
            logp = torch.log_softmax(logits, dim=1).view(B, K, V)  # (B, K, V)
            step = logp if bias is None else logp + bias  # (B, K, V) ranking scores
            if c.eos_id >= 0:  # a finished beam extends only with EOS, at no cost
                fin = torch.full((V,), float("-inf"), device=h.device)
                fin[c.eos_id] = 0.0
                logp = torch.where(done.unsqueeze(2), fin, logp)
                step = torch.where(done.unsqueeze(2), fin, step)
            cand = (scores.unsqueeze(2) + step).view(B, K * V)  # (B, K*V)
            scores, idx = cand.topk(K, dim=1)  # (B, K)
            beam, tok = idx // V, idx % V  # (B, K)
            tok_lp = logp.view(B, K * V).gather(1, idx)  # (B, K)
            toks = torch.cat([toks.gather(1, beam.unsqueeze(2).expand_as(toks)), tok.unsqueeze(2)], 2)
            lps = torch.cat([lps.gather(1, beam.unsqueeze(2).expand_as(lps)), tok_lp.unsqueeze(2)], 2)
            flat = (beam + torch.arange(B, device=h.device).unsqueeze(1) * K).view(-1)  # (B*K,)
            h = h[:, flat]  # (L, B*K, H)
            y = tok.view(-1)
            if c.eos_id >= 0:
                done = done.gather(1, beam) | (tok == c.eos_id)
                if bool(done.all()):
                    break
        best = scores.argmax(dim=1)  # (B,)
        ar = torch.arange(B, device=h.device)
        tokens, token_lp = toks[ar, best], lps[ar, best]  # (B, T), (B, T)
        token_lp = torch.nan_to_num(token_lp, neginf=0.0)  # beams that were never live cannot win
        seq = scores[ar, best] if bias is None else token_lp.sum(1)
        return Decoded(tokens, token_lp, seq)

    @torch.no_grad()
    def generate(self, x: Tensor, lengths: Tensor | None = None, beam_size: int = 1,
                 max_len: int | None = None) -> Decoded:
        """Encode x then decode (greedy when beam_size == 1)."""
        mem, h = self.encode(x, lengths)  # (B, S, H), (L, B, H)
        mask = _length_mask(lengths, mem.size(1)) if lengths is not None else None
        if beam_size <= 1:
            return self.greedy(h, max_len, mem, mask)
        return self.beam_search(h, beam_size, max_len, mem, mask)


def _length_mask(lengths: Tensor, T: int) -> Tensor:
    """(B,) lengths -> (B, T) True where a position is valid."""
    return torch.arange(T, device=lengths.device).unsqueeze(0) < lengths.to(torch.long).unsqueeze(1)
