"""Per-task steps of a trainer cycle: stream + bootstrap data, fixed dev sets, fine-tune, evaluate, files."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqsignal.models import finetune as ft
from seqsignal.models.behavior import data as bd
from seqsignal.models.core import registry
from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, model_files
from seqsignal.models.core.promotion import BEHAVIOR_GATE, TEXT_GATE, GateConfig
from seqsignal.workers.trainer.buffer import LabelRow, TrainingBuffer

DEV_HOURS = 6.0  # behavior dev set: next actions in the last 6 h of Higgs before the split (fixed)
TEXT_DEV_SIZE = 500
TEXT_BOOTSTRAP_SIZE = 3000
RUMOR_CLASSES = ("non-rumour", "rumour")  # what rumour labels say; veracity is not trained from labels


@dataclass
class TaskOutcome:
    """What one task's step of a cycle produced (files only when a candidate was trained)."""

    task: str
    champion: str | None
    skipped: str | None = None  # why no candidate was trained
    files: dict[str, bytes] = field(default_factory=dict)
    candidate: dict[str, dict[str, float]] = field(default_factory=dict)  # eval set -> metrics
    champion_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    steps: int = 0
    train_loss: float = math.nan
    train_seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CycleInputs:
    """What every task's step of a cycle reads: the buffer, where models and data live, fine-tune knobs."""

    buffer: TrainingBuffer
    registry_dir: Path
    data_dir: Path
    finetune: ft.FinetuneConfig
    holdout_fraction: float  # the most recent share of the stream rows, held back for evaluation
    min_rows: int  # buffered actions a behavior step needs; a text step needs a tenth of it in labels


def gate_for(task: str) -> GateConfig:
    return BEHAVIOR_GATE if task == "behavior" else TEXT_GATE


def _begin(task: str, registry_dir: Path) -> TaskOutcome:
    """The outcome to fill in: skipped from the start when there is no champion to continue from."""
    champion = registry.champion(registry_dir, task)
    return TaskOutcome(task, champion, skipped=None if champion else "no champion to continue from")


def _too_few(out: TaskOutcome, n: int, least: int, what: str) -> bool:
    """Skip the step (saying why) when the buffer holds fewer than `least` rows."""
    if n < least:
        out.skipped = f"{n} buffered {what} < {least}"
    return n < least


def _finish(out: TaskOutcome, res: Any, champion: Any, score: Callable[[Any], dict[str, dict[str, float]]],
            files: dict[str, bytes]) -> TaskOutcome:
    """Score candidate and champion on the same sets; keep the candidate's files and training stats."""
    out.candidate, out.champion_metrics = score(res.model), score(champion)
    out.files = files
    out.steps, out.train_loss, out.train_seconds = res.steps, res.train_loss, res.seconds
    return out


# ------------------------------------------------------------------------------------------- behavior
@functools.cache
def _higgs_batches(data_dir: str, horizon: int) -> list[bd.Batch]:
    """Higgs before the split, whole users, batched: the fixed dev set (last DEV_HOURS) and bootstrap."""
    path = Path(data_dir) / "behavior/higgs/activity.txt.gz"
    return ft.behavior_batches(list(bd.iter_events(path, until=bd.SPLIT_TS)), horizon, max_tokens=4096)


def run_behavior(inp: CycleInputs) -> TaskOutcome:
    from seqsignal.models.behavior.predictor import config_dict, model_from_files

    out = _begin("behavior", inp.registry_dir)
    if out.skipped is not None:
        return out
    rows = inp.buffer.actions()
    if _too_few(out, len(rows), inp.min_rows, "actions"):
        return out
    vdir, _ = registry.resolve(inp.registry_dir, "behavior", out.champion)
    champ = model_from_files(json.loads((vdir / CONFIG).read_text()), (vdir / WEIGHTS).read_bytes())
    horizon = champ.config.max_len
    ts = np.array([r.ts for r in rows])
    cut = float(np.quantile(ts, 1.0 - inp.holdout_fraction))  # the most recent slice is held back
    stream = ft.behavior_batches([(r.user, r.action, r.ts) for r in rows], horizon)
    higgs = _higgs_batches(str(inp.data_dir), horizon)
    dev_from = bd.SPLIT_TS - DEV_HOURS * 3600
    res = ft.finetune_behavior(champ, stream, cut, higgs, dev_from, inp.finetune)

    def score(model: Any) -> dict[str, dict[str, float]]:
        return {"dev": ft.evaluate_behavior(model, higgs, dev_from, bd.SPLIT_TS),
                "recent": ft.evaluate_behavior(model, stream, cut, math.inf)}

    # the next-target ranker is not fine-tuned: the candidate keeps the champion's (targets/*) as they are
    ranker = {p.relative_to(vdir).as_posix(): p.read_bytes() for p in sorted((vdir / "targets").glob("*"))}
    _finish(out, res, champ, score, {**model_files(res.model, config_dict(res.model)), **ranker})
    out.data = {
        "stream_actions": len(rows),
        "stream_users": len({r.user for r in rows}),
        "recent_from_ts": cut,
        "dev": f"higgs [{dev_from:.0f}, {bd.SPLIT_TS:.0f})",
        "bootstrap": "higgs before the dev window",
    }
    return out


# ----------------------------------------------------------------------------------------------- text
@functools.cache
def _text_sets(task: str, data_dir: str) -> tuple[tuple[tuple[str, str, tuple[str, ...]], ...], ...]:
    """(dev, bootstrap) examples (text, label, replies) from the shared data; dev fixed and disjoint."""
    if task == "sentiment":
        from seqsignal.models.datasets.sentiment import drop_overlap, load_semeval, load_tweeteval_val

        d = Path(data_dir) / "sentiment"
        dev_ex = load_tweeteval_val(d / "tweeteval-val")[:TEXT_DEV_SIZE]
        boot_ex = drop_overlap(load_semeval(d / "semeval2013-2016")[: TEXT_BOOTSTRAP_SIZE * 2], dev_ex)
        dev = tuple((e.text, str(e.label), ()) for e in dev_ex)
        boot = tuple((e.text, str(e.label), ()) for e in boot_ex[:TEXT_BOOTSTRAP_SIZE])
        return dev, boot
    from seqsignal.models.datasets.pheme import iter_pheme

    pheme = list(iter_pheme(Path(data_dir) / "rumor/pheme"))
    rows = [(e.text, str(e.label), tuple(e.replies)) for e in pheme]
    return tuple(rows[::7][:TEXT_DEV_SIZE]), tuple(r for i, r in enumerate(rows) if i % 7)[
        :TEXT_BOOTSTRAP_SIZE
    ]


def _examples(predictor: Any, task: str, rows: Sequence[tuple[str, str, Sequence[str]]]) -> ft.TextExamples:
    labels = list(predictor.config.labels)
    keep = [r for r in rows if r[1] in labels]
    if task == "sentiment":
        ids, lengths = predictor.encode([r[0] for r in keep])
    else:
        ids, lengths = predictor.encode([r[0] for r in keep], [list(r[2]) for r in keep])
    return ft.TextExamples(
        np.asarray(ids, np.int64),
        np.asarray(lengths, np.int64),
        np.array([labels.index(r[1]) for r in keep], np.int64),
    )


def run_text(task: str, inp: CycleInputs) -> TaskOutcome:
    from seqsignal.models.text.model import TextPredictor, text_model_files

    out = _begin(task, inp.registry_dir)
    if out.skipped is not None:
        return out
    rows: list[LabelRow] = inp.buffer.labels(task)
    if _too_few(out, len(rows), max(1, inp.min_rows // 10), "labels"):
        return out
    predictor = registry.load_predictor(task, inp.registry_dir, out.champion)
    if not isinstance(predictor, TextPredictor):  # the rumour fast tier's per-dataset heads
        out.skipped = "champion is not a text Seq2Seq (per-dataset rumour heads retrain with `train rumor`)"
        return out
    # fine-tuning reaches past the serving contract to the model
    n_recent = max(1, round(len(rows) * inp.holdout_fraction))
    train_rows, recent_rows = rows[:-n_recent], rows[-n_recent:]
    dev_rows, boot_rows = _text_sets(task, str(inp.data_dir))
    train = _examples(predictor, task, [(r.text, r.label, r.replies) for r in train_rows])
    recent = _examples(predictor, task, [(r.text, r.label, r.replies) for r in recent_rows])
    dev, boot = _examples(predictor, task, dev_rows), _examples(predictor, task, boot_rows)
    res = ft.finetune_text(predictor.model, train, boot, inp.finetune)
    names = list(predictor.config.labels)
    classes = RUMOR_CLASSES if task == "rumor" else None

    def score(model: Any) -> dict[str, dict[str, float]]:
        return {"dev": ft.evaluate_text(model, dev, names, classes),
                "recent": ft.evaluate_text(model, recent, names, classes)}

    files = text_model_files(res.model, predictor.config, predictor.tokenizer) | predictor.extra_files()
    _finish(out, res, predictor.model, score, files)
    out.data = {
        "stream_labels": len(rows),
        "recent_labels": n_recent,
        "dev_size": len(dev.labels),
        "bootstrap_size": len(boot.labels),
    }
    return out


def run_task(task: str, inp: CycleInputs) -> TaskOutcome:
    return run_behavior(inp) if task == "behavior" else run_text(task, inp)
