"""Rumor predictor: a source post plus its replies so far -> rumour probability (and veracity); loader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from seqsignal.models.core.registry import register_loader
from seqsignal.models.text.model import TextModelConfig, TextPredictor, load_text_predictor
from seqsignal.models.text.tokenizer import pad_ids

TASK: Final = "rumor"
# Decoder vocabulary after BOS: step 1 says rumour or not, step 2 (rumours only) the veracity.
RUMOR_LABELS: tuple[str, ...] = ("non-rumour", "rumour", "true", "false", "unverified")
VERACITY_LABELS: tuple[str, ...] = ("true", "false", "unverified")
MAX_SOURCE_TOKENS = 48  # of max_len; the rest is shared by replies, earliest first
MAX_REPLY_TOKENS = 24


def rumor_config(vocab_size: int, **kw: Any) -> TextModelConfig:
    """The rumor formulation: two decoder steps, rumour/non-rumour then veracity."""
    kw.setdefault("max_len", 96)
    return TextModelConfig(task=TASK, labels=RUMOR_LABELS, vocab_size=vocab_size, target_len=2, **kw)


def compose_thread(
    source: Sequence[int],
    replies: Sequence[Sequence[int]],
    max_len: int,
    sep_id: int,
    max_source: int = MAX_SOURCE_TOKENS,
    max_reply: int = MAX_REPLY_TOKENS,
) -> list[int]:
    """source [SEP] reply1 [SEP] reply2 ... in time order, each part truncated, the whole at most max_len.

    The earliest replies are kept when the budget runs out (they carry the early-detection signal), so the
    score of a thread stops moving once its first replies fill the window.
    """
    ids = list(source[: min(max_source, max_len)])
    for r in replies:
        room = max_len - len(ids) - 1
        if room <= 0:
            break
        ids.append(sep_id)
        ids.extend(r[: min(max_reply, room)])
    return ids


class RumorPredictor(TextPredictor):
    """`score(sources, replies) -> (B,)` rumour probability; `veracity(...) -> (B, 3)` veracity.
    `decision_threshold` is the flag threshold chosen at training time on the dev split (0.5 if absent).
    Implements `models.core.serving.RumorModel`."""

    task: Literal["rumor"] = TASK

    @property
    def decision_threshold(self) -> float:
        return float(self.config.extra.get("decision_threshold", 0.5))

    def encode(
        self, sources: Sequence[str], replies: Sequence[Sequence[str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(sources) != len(replies):
            raise ValueError(f"{len(sources)} sources but {len(replies)} reply lists")
        src = self.tokenizer.encode_ids(list(sources))
        flat = [r for rs in replies for r in rs]
        rep = self.tokenizer.encode_ids(flat) if flat else []
        rows, k = [], 0
        for s, rs in zip(src, replies, strict=True):
            rows.append(compose_thread(s, rep[k : k + len(rs)], self.config.max_len, self.tokenizer.sep_id))
            k += len(rs)
        return pad_ids(rows, self.config.max_len, self.tokenizer.pad_id)

    def _probs(
        self, sources: Sequence[str], replies: Sequence[Sequence[str]], steps: int
    ) -> list[np.ndarray]:
        ids, lengths = self.encode(sources, replies)
        return self.label_probs_of(ids, lengths, steps)

    def score(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        if not len(sources):
            return np.zeros(0, dtype=np.float32)
        p = self._probs(sources, replies, 1)[0][:, :2]  # (B, 2) non-rumour, rumour (+ unused veracity mass)
        return (p[:, 1] / np.maximum(p.sum(axis=1), 1e-12)).astype(np.float32)

    def warm_up(self) -> None:
        self.score(["warm up"], [["ok"]])

    def veracity(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, 3) P(true, false, unverified | rumour), decoded after the rumour token."""
        if not len(sources):
            return np.zeros((0, 3), dtype=np.float32)
        ids, lengths = self.encode(sources, replies)
        return self.veracity_of(ids, lengths)

    def veracity_of(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        import torch

        from seqsignal.models.text.model import first_step_logits, sort_batches

        out = np.zeros((len(lengths), 3), dtype=np.float32)
        with torch.inference_mode():
            for b in sort_batches(lengths, self.batch_size):
                T = int(lengths[b].max())
                _, h, mem, mask = first_step_logits(
                    self.model, torch.from_numpy(ids[b, :T]), torch.from_numpy(lengths[b])
                )
                y = torch.full((len(b),), self.config.label_id("rumour"), dtype=torch.long)
                logits, _ = self.model.decode_step(y, h, mem, mask)  # (b, V)
                vid = [self.config.label_id(v) for v in VERACITY_LABELS]
                out[b] = torch.softmax(logits[:, vid], dim=1).numpy()
        return out


@register_loader(TASK)
def load(version_dir: Path, manifest: dict[str, Any], device: str = "cpu") -> RumorPredictor:
    """Registry loader (files already verified by the registry): a quality-tier version (manifest tier
    "quality": `rumor_quality`, a MiniLM network per dataset), the fast tier's per-dataset heads
    (`rumor_heads`, config.json kind "rumor-heads") or the earlier pooled text Seq2Seq."""
    from seqsignal.models.core.registry import tier_of
    from seqsignal.models.text import rumor_heads

    if tier_of(manifest) == "quality":
        from seqsignal.models.text.rumor_quality import load_rumor_quality

        return load_rumor_quality(version_dir, manifest, device)  # type: ignore[return-value]

    if rumor_heads.is_heads_version(version_dir):
        return rumor_heads.load_heads(version_dir, str(manifest["version"]), device)  # type: ignore[return-value]
    return load_text_predictor(RumorPredictor, TASK, RUMOR_LABELS, version_dir, manifest, device)
