"""Unit tests of the GRU encoder-decoder: shapes, training, decoding, incremental encoding."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from seqsignal.models.core.seq2seq import Seq2Seq, Seq2SeqConfig

torch.set_num_threads(1)


def _model(attention: str = "none", **kw: Any) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(tgt_vocab_size=kw.pop("V", 7), src_vocab_size=kw.pop("src", 9), hidden_size=16,
                        emb_dim=8, attention=attention, bos_id=0, max_len=kw.pop("max_len", 4),
                        never_emit=(0,), **kw)
    return Seq2Seq(cfg).eval()


@pytest.mark.parametrize("attention", ["none", "luong", "bahdanau"])
def test_shapes_and_loss(attention: str) -> None:
    m = _model(attention)
    x = torch.randint(1, 9, (5, 6))  # (B, T)
    y = torch.randint(1, 7, (5, 3))
    logits, loss = m(x, y, lengths=torch.tensor([6, 3, 1, 6, 2]))
    assert logits.shape == (5, 3, 7)
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss)
    logits2, none = m(x)
    assert none is None and logits2.shape == (5, 4, 7)
    d = m.generate(x, beam_size=3)
    assert d.tokens.shape == (5, 4) and d.seq_logprob.shape == (5,)
    assert not (d.tokens == 0).any()  # BOS is never emitted


def test_feature_inputs_and_custom_embed() -> None:
    cfg = Seq2SeqConfig(tgt_vocab_size=5, input_dim=4, hidden_size=8)
    m = Seq2Seq(cfg)
    assert m(torch.randn(2, 3, 4), torch.randint(0, 5, (2, 2)))[0].shape == (2, 2, 5)
    cfg2 = Seq2SeqConfig(tgt_vocab_size=5, input_dim=6, hidden_size=8)
    m2 = Seq2Seq(cfg2, input_embed=torch.nn.Linear(3, 6))
    assert m2(torch.randn(2, 3, 3), torch.randint(0, 5, (2, 2)))[0].shape == (2, 2, 5)
    with pytest.raises(ValueError):
        Seq2Seq(Seq2SeqConfig(tgt_vocab_size=5))


def test_config_round_trip() -> None:
    cfg = Seq2SeqConfig(tgt_vocab_size=5, input_dim=4, attention="luong", never_emit=(0, 1))
    assert Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("attention", ["none", "luong"])
def test_teacher_forcing_learns_copy_task(attention: str) -> None:
    """Toy task: output the first three input tokens. The loss must fall well below chance (ln 6)."""
    torch.manual_seed(1)
    m = _model(attention).train()
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    first: float | None = None
    for _ in range(150):
        x = torch.randint(1, 7, (32, 5))
        _, loss = m(x, x[:, :3])
        assert loss is not None
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first is not None and first > 1.5 and loss.item() < 0.5 * first
    m.eval()
    x = torch.randint(1, 7, (64, 5))
    acc = (m.generate(x).tokens[:, :3] == x[:, :3]).float().mean().item()
    assert acc > 0.6


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_greedy_equals_beam_one(attention: str) -> None:
    m = _model(attention)
    x = torch.randint(1, 9, (8, 5))
    mem, h = m.encode(x)
    g = m.greedy(h, mem=mem)
    b = m.beam_search(h, 1, mem=mem)
    assert torch.equal(g.tokens, b.tokens)
    assert torch.allclose(g.seq_logprob, b.seq_logprob, atol=1e-5)
    assert torch.allclose(g.token_logprobs.sum(1), g.seq_logprob)


def test_beam_at_least_greedy_and_exhaustive_is_optimal() -> None:
    m = _model(V=4, max_len=3)
    for p in m.parameters():  # sharpen the distribution so greedy is often not optimal
        p.data.mul_(3.0)
    x = torch.randint(1, 9, (32, 5))
    _, h = m.encode(x)
    g = m.greedy(h, max_len=3)
    b = m.beam_search(h, 3, max_len=3)
    assert (b.seq_logprob >= g.seq_logprob - 1e-5).all()
    # beam 9 >= 3^(T-1) live tokens (BOS masked) is exhaustive: it must find the true optimum.
    ex = m.beam_search(h, 9, max_len=3)
    best = torch.full((32,), float("-inf"))
    for seq in itertools.product([1, 2, 3], repeat=3):
        hh, lp = h, torch.zeros(32)
        y = torch.zeros(32, dtype=torch.long)
        for tok in seq:
            logits, hh = m.decode_step(y, hh)
            y = torch.full((32,), tok)
            lp = lp + torch.log_softmax(logits, 1)[:, tok]
        best = torch.maximum(best, lp)
    assert torch.allclose(ex.seq_logprob, best, atol=1e-4)
    assert (ex.seq_logprob > g.seq_logprob + 1e-4).any()  # the test exercises a real difference


def test_beam_with_eos_stops() -> None:
    m = _model(eos_id=6)
    d = m.generate(torch.randint(1, 9, (4, 5)), beam_size=3, max_len=6)
    assert d.tokens.shape[0] == 4 and torch.isfinite(d.seq_logprob).all()
    for row, lp in zip(d.tokens, d.token_logprobs, strict=True):
        hits = (row == 6).nonzero()
        if len(hits):
            assert (lp[int(hits[0]) + 1:] == 0).all()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_incremental_equals_full_encode(num_layers: int) -> None:
    torch.manual_seed(3)
    m = Seq2Seq(Seq2SeqConfig(tgt_vocab_size=5, input_dim=4, hidden_size=12, num_layers=num_layers)).eval()
    x = torch.randn(3, 10, 4)  # (B, T, F)
    lengths = torch.tensor([10, 4, 7])
    _, h_full = m.encode(x, lengths)
    h = None
    states = []
    for t in range(10):
        h = m.encode_step(x[:, t], h)
        states.append(h)
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(states[n - 1][:, b], h_full[:, b], atol=1e-6)
    # from a cached state plus one step equals a full encode of the longer window
    _, h9 = m.encode(x[:, :9])
    assert torch.allclose(m.encode_step(x[:, 9], h9), m.encode(x)[1], atol=1e-6)


def test_decision_bias_changes_choice_not_probabilities() -> None:
    m = _model()
    _, h = m.encode(torch.randint(1, 9, (16, 5)))
    plain = m.greedy(h)
    bias = torch.zeros(7)
    bias[3] = 50.0  # force token 3
    forced = m.greedy(h, bias=bias)
    assert (forced.tokens == 3).all()
    beam = m.beam_search(h, 1, bias=bias)
    assert torch.equal(beam.tokens, forced.tokens)
    assert torch.allclose(beam.seq_logprob, forced.seq_logprob, atol=1e-5)
    assert (forced.token_logprobs < 0).all() and (forced.seq_logprob <= plain.seq_logprob + 1e-6).all()
