"""Benchmark inputs: untrained predictors with the served configs, a bench registry, real event slices."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from seqsignal.models.behavior.predictor import BehaviorPredictor, behavior_config, config_dict
from seqsignal.models.core import registry
from seqsignal.models.core.checkpoint import model_files
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.models.datasets.streams import iter_dataset_events
from seqsignal.models.text.model import build_model, text_model_files
from seqsignal.models.text.rumor import RumorPredictor, rumor_config
from seqsignal.models.text.sentiment import SentimentPredictor, sentiment_config
from seqsignal.models.text.tokenizer import TextTokenizer
from seqsignal.schemas.events import Action, Post

VERSION = "bench-untrained"  # throughput does not depend on training: the served configs, random weights


@dataclass(frozen=True)
class Predictors:
    """One predictor per task, all built from the default configs of models/."""

    behavior: BehaviorPredictor
    sentiment: SentimentPredictor
    rumor: RumorPredictor
    tokenizer: TextTokenizer


@cache
def actions(n: int) -> list[Action]:
    """The first n Higgs actions (time order), as the replay sends them."""
    return [e for e in itertools.islice(iter_dataset_events("higgs"), n) if isinstance(e, Action)]


@cache
def tweets(n: int) -> list[Post]:
    """The first n TweetEval tweets (real text, each its own thread root)."""
    return [e for e in itertools.islice(iter_dataset_events("tweeteval"), n) if isinstance(e, Post)]


@cache
def posts(n: int) -> list[Post]:
    """The first n SemEval tweets in time order (50k real tweets: enough for a posts backlog)."""
    return [e for e in itertools.islice(iter_dataset_events("semeval"), n) if isinstance(e, Post)]


@cache
def threads(n_posts: int) -> list[Post]:
    """RumourEval posts (sources then replies, time order), at most n_posts."""
    return [e for e in itertools.islice(iter_dataset_events("rumoureval"), n_posts) if isinstance(e, Post)]


def behavior_model(seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(behavior_config(dropout=0.0)).eval()  # hidden 64, emb 16: the trainer's defaults


@cache
def tokenizer() -> TextTokenizer:
    """A BPE trained on real tweets and thread posts (the text models' tokenizer kind)."""
    texts = [p.text for p in tweets(2000)] + [p.text for p in threads(4600)]
    return TextTokenizer.train(texts, vocab_size=8000)


def text_models(tok: TextTokenizer, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """(sentiment model, its config, rumor model, its config) with TextModelConfig defaults."""
    s_cfg, r_cfg = sentiment_config(tok.vocab_size, dropout=0.0), rumor_config(tok.vocab_size, dropout=0.0)
    return build_model(s_cfg, tok, seed).eval(), s_cfg, build_model(r_cfg, tok, seed).eval(), r_cfg


def predictors() -> Predictors:
    """In-process predictors for the micro-benchmarks (same classes the registry loaders return)."""
    tok = tokenizer()
    s_model, s_cfg, r_model, r_cfg = text_models(tok)
    return Predictors(BehaviorPredictor(behavior_model(), VERSION),
                      SentimentPredictor(s_model, tok, s_cfg, VERSION),
                      RumorPredictor(r_model, tok, r_cfg, VERSION), tok)


def write_registry(registry_dir: Path) -> Path:
    """A registry whose champions are the untrained bench models (what the worker and naive pipeline load)."""
    tok = tokenizer()
    s_model, s_cfg, r_model, r_cfg = text_models(tok)
    beh = behavior_model()
    files = {"behavior": model_files(beh, config_dict(beh)),
             "sentiment": text_model_files(s_model, s_cfg, tok),
             "rumor": text_model_files(r_model, r_cfg, tok)}
    for task, task_files in files.items():
        version = registry.save_version(registry_dir, task, task_files, data="untrained benchmark model")
        registry.promote(task, version, registry_dir)
    return registry_dir
