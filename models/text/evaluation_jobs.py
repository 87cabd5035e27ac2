"""Evaluation jobs: what `seqsignal eval sentiment|rumor` do (load a predictor, score it, baselines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqsignal.models.core import registry
from seqsignal.models.core.serving import Predictor
from seqsignal.models.text import data as td
from seqsignal.models.text import evaluate as te


def load(task: str, model: Path | None, reg: Path, version: str | None, tier: str | None = None) -> Predictor:
    """A predictor from a version directory (verified) or from the registry (the champion of `tier`, fast by
    default); a named version or directory must be of `tier` when one is given."""
    return registry.load_predictor(task, reg, version, model_dir=model, tier=tier)


def eval_sentiment_job(
    data: Path, predictor: Any, baseline: bool, train_root: Path, bench: bool = True, split: str | None = None
) -> dict[str, Any]:
    from seqsignal.models.datasets import sentiment as sd

    read, examples = td.read_sentiment_split(data, split)
    out: dict[str, Any] = {"task": "sentiment", "data": str(data), "split": read,
                           "model_version": predictor.version}
    out |= te.eval_sentiment(predictor, examples)
    if baseline:
        train = td.drop_near_duplicates(sd.load_semeval(train_root / sd.SEMEVAL_REL), examples)
        out["baselines"] = te.baseline_sentiment(train, examples) | {"n_train": len(train)}
    if bench:
        texts = [ex.text for ex in examples][:256]
        out["throughput"] = te.throughput(predictor.predict, (texts * (256 // max(len(texts), 1) + 1))[:256])
    return out


def eval_rumor_job(
    data: Path, predictor: Any, baseline: bool, train_root: Path, bench: bool = True, split: str = "dev"
) -> dict[str, Any]:
    fmt, examples = td.read_rumor(data, split)  # "dev": PHEME / RumourEval score the 10% never trained on
    out: dict[str, Any] = {
        "task": "rumor",
        "data": str(data),
        "format": fmt,
        "split": td.rumor_split_note(fmt, data, split),
        "model_version": predictor.version,
    }
    head = None
    if hasattr(predictor, "head_probs"):  # the fast tier's per-dataset heads: the file's own head scores it
        from seqsignal.models.text import rumor_eval as re_

        head = re_.head_of(fmt, predictor.heads)
        if head == "pheme" and predictor.english is not None:  # what serving scores English threads with
            out |= te.eval_rumor(predictor.english, examples, fmt) | {"head": "english (embedded seq2seq)"}
        elif head:
            out |= re_.score_head(predictor, head, examples)
        else:
            out |= re_.score_veracity3(predictor, examples)
    else:
        out |= te.eval_rumor(predictor, examples, fmt)
    out["n_with_replies"] = sum(bool(ex.replies) for ex in examples)
    if fmt in ("twitter15", "twitter16", "weibo", "pheme"):
        out["note"] = "random/hash splits: near-duplicate tweets can leak between train and dev"
    if baseline:
        ids = {ex.id for ex in examples}
        train = [ex for ex in td.rumor_train_dev(train_root)[0] if ex.id not in ids]
        out["baselines"] = {"tfidf_lr": te.baseline_rumor(train, examples, fmt) | {"n_train": len(train)}}
        if head is not None:  # issue 10 point 4: per-dataset TF-IDF word+char LR / SVC, same run
            from seqsignal.models.text.rumor_eval import dataset_baselines

            own = [ex for ex in td.rumor_train_dev(train_root, (head,))[0] if ex.id not in ids]
            out["baselines"] |= dataset_baselines(own, examples, head)
    if bench:
        src = ([ex.text for ex in examples] * 256)[:256]
        rep = ([list(ex.replies[:8]) for ex in examples] * 256)[:256]
        out["throughput"] = te.throughput(lambda s: predictor.score(s, rep), src)
    return out
