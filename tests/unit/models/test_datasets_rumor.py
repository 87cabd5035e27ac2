"""Loaders on the real shared data: PHEME, Twitter15/16, RumourEval 2017, Weibo and the named streams."""

from __future__ import annotations

from collections import Counter

import pytest

from seqsignal.models.datasets import pheme, rumoureval, twitter1516, weibo
from seqsignal.models.datasets.streams import DATASET_NAMES, iter_dataset_events
from seqsignal.schemas.events import Label, Post
from seqsignal.workers.settings import default_data_dir

DATA = default_data_dir()
pytestmark = pytest.mark.skipif(
    not (DATA / "rumor").exists(), reason=f"shared datasets not found at {DATA} (set SEQSIGNAL_DATA_DIR)"
)


def test_pheme_examples_match_raw_objects() -> None:
    examples = list(pheme.iter_pheme())
    assert len(examples) == 3_445
    assert Counter(ex.label for ex in examples) == {"non-rumour": 1_751, "rumour": 1_694}
    assert all((ex.veracity == "non-rumor") == (ex.label == "non-rumour") for ex in examples)
    assert len({ex.event for ex in examples}) == 7
    raw = {p.post_id: p for p in pheme.iter_pheme_raw_posts()}
    assert raw.keys() == {ex.id for ex in examples}  # raw holds the same source tweets, no replies
    for ex in examples[:200]:
        assert raw[ex.id].created_at == ex.created_at and raw[ex.id].user_id == ex.user_id


@pytest.mark.parametrize(
    ("name", "n", "with_replies", "n_replies"),
    [("twitter15", 1_154, 911, 15_034), ("twitter16", 634, 473, 7_333)],
)
def test_twitter_threads_have_replies_after_source(
    name: str, n: int, with_replies: int, n_replies: int
) -> None:
    threads = list(twitter1516.iter_twitter_threads(name))  # type: ignore[arg-type]
    assert len(threads) == n
    assert sum(bool(t.replies) for t in threads) == with_replies
    assert sum(len(t.replies) for t in threads) == n_replies
    assert {t.example.veracity for t in threads} == {"non-rumor", "false", "true", "unverified"}
    for t in threads:
        times = [p.created_at for p in t.posts]
        assert times == sorted(times) and len(set(times)) == len(times)  # synthesised, strictly increasing
        assert all(r.root_id == r.reply_to == t.source.post_id for r in t.replies)
        assert all(r.text.strip() for r in t.replies)
    assert len(list(twitter1516.iter_twitter(name, split="dev"))) < n  # type: ignore[arg-type]


def test_rumoureval_threads_in_time_order() -> None:
    threads = list(rumoureval.iter_rumoureval_threads())
    assert len(threads) == 297
    assert sum(len(t.posts) for t in threads) == 4_519
    assert Counter(t.example.veracity for t in threads) == {"true": 137, "unverified": 98, "false": 62}
    for t in threads:
        times = [p.created_at for p in t.posts]
        assert times == sorted(times)
        assert list(t.example.replies) == [r.text for r in t.replies]
    stances = rumoureval.load_stances()
    assert len(stances) == 4_519 and Counter(stances.values())["comment"] == 2_907


def test_weibo_examples() -> None:
    examples = list(weibo.iter_weibo())
    assert len(examples) == 3_614
    assert Counter(ex.veracity for ex in examples) == {"non-rumor": 1_822, "false": 1_792}
    assert len(list(weibo.iter_weibo(split="dev"))) == 467
    post = next(iter(weibo.iter_weibo_threads())).source
    assert post.lang == "zh" and any("\u4e00" <= ch <= "\u9fff" for ch in post.text)


@pytest.mark.parametrize("name", [n for n in DATASET_NAMES if n not in ("higgs", "semeval")])
def test_named_streams_are_time_ordered_and_labels_optional(name: str) -> None:
    plain = list(iter_dataset_events(name))
    labelled = list(iter_dataset_events(name, labels=True))
    assert plain and all(isinstance(e, Post) for e in plain)
    assert [e for e in labelled if isinstance(e, Post)] == plain
    assert any(isinstance(e, Label) for e in labelled)
    times = [e.created_at for e in labelled]
    assert times == sorted(times)


def test_unknown_stream_name_is_rejected() -> None:
    with pytest.raises(KeyError, match="unknown dataset"):
        iter_dataset_events("nope")
