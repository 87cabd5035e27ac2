"""Loaders on the real shared data: Higgs actions and SemEval / TweetEval sentiment."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import pytest

from seqsignal.models.datasets import higgs, sentiment
from seqsignal.models.datasets._common import normalize_text, snowflake_time, unescape_u
from seqsignal.workers.settings import default_data_dir

DATA = default_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "behavior" / "higgs" / "activity.txt.gz").exists(),
    reason=f"shared datasets not found at {DATA} (set SEQSIGNAL_DATA_DIR)",
)


def test_unescape_u_handles_bmp_and_surrogate_pairs() -> None:
    assert unescape_u("I\\u2019m\\u002c ok") == "I’m, ok"
    assert unescape_u("\\ud83d\\ude00!") == "😀!"
    assert unescape_u("no escapes") == "no escapes"


def test_normalize_text_folds_handles_urls_case_and_punctuation() -> None:
    a = normalize_text('"Go @Bob, see http://t.co/x1  NOW!"')
    assert a == normalize_text("go @user see now")
    assert a != normalize_text("go @user see later")


def test_clean_semeval_text_undoes_double_csv_quoting() -> None:
    raw = '"Why is \\""""Happy Day\\"""" trending? It\\u2019s"'
    assert sentiment.clean_semeval_text(raw) == 'Why is "Happy Day" trending? It’s'
    assert sentiment.clean_semeval_text('"Arriving Tuesday" is late') == '"Arriving Tuesday" is late'


def test_snowflake_time_decodes_tweet_ids_and_rejects_small_ids() -> None:
    t = snowflake_time("264183816548130816")
    assert t is not None and t.date() == datetime(2012, 11, 2, tzinfo=UTC).date()
    assert snowflake_time("3910552407639880") is None  # a Weibo mid is not a snowflake
    assert snowflake_time("tweeteval-val:3") is None


@needs_data
def test_higgs_rows_and_merge_counts() -> None:
    rows = list(higgs.iter_higgs_rows())
    assert len(rows) == 410_134
    assert Counter(r[3] for r in rows) == {"RT": 264_141, "MT": 120_488, "RE": 25_505}
    merged = list(higgs.iter_higgs())
    # 25,504 RE+MT pairs, 2,914 RT+MT pairs and one RE+MT+RT triple collapse into one row each
    assert len(merged) == 410_134 - 25_504 - 2_914 - 2 == 381_714
    assert len({r[:3] for r in merged}) == len(merged)
    assert Counter(r[3] for r in merged) == {"RT": 264_140, "MT": 92_069, "RE": 25_505}
    assert all(a[2] <= b[2] for a, b in itertools.pairwise(merged))


@needs_data
def test_higgs_actions_merge_reply_and_mention_into_one_reply() -> None:
    first = list(higgs.iter_higgs_actions(limit=3))
    # the file starts with `223789 213163 1341100972 MT` then `... RE`: one reply event
    assert first[0].event_id == "higgs:223789:213163:1341100972:RE"
    assert first[0].action == "reply" and first[0].user_id == "223789" and first[0].target_id == "213163"
    assert first[0].created_at == datetime.fromtimestamp(1341100972, tz=UTC)
    assert first[1].action == "repost"
    assert len(first) == 3


@needs_data
def test_semeval_counts_unescape_and_dedupe() -> None:
    raw = [ex for f in sentiment.semeval_files() for ex in sentiment.iter_semeval_file(f)]
    assert len(raw) == 50_334 and len(sentiment.semeval_files()) == 11
    examples = sentiment.load_semeval()
    assert len(examples) == 49_465
    assert len({ex.id for ex in examples}) == len(examples)
    assert len({normalize_text(ex.text) for ex in examples}) == len(examples)
    assert not any("\\u" in ex.text or '""' in ex.text for ex in examples)
    by_id = {ex.id: ex for ex in examples}
    assert by_id["264183816548130816"].text.startswith("Gas by my house hit $3.39!!!! I’m going")
    assert Counter(ex.label for ex in examples) == {"neutral": 22_147, "positive": 19_592, "negative": 7_726}


@needs_data
def test_tweeteval_val_and_overlap_drop() -> None:
    val = sentiment.load_tweeteval_val()
    assert len(val) == 2_000
    assert Counter(ex.label for ex in val) == {"neutral": 869, "positive": 819, "negative": 312}
    assert val[0].id == "tweeteval-val:0" and val[0].label == "neutral"
    train = sentiment.load_semeval()
    kept = sentiment.drop_overlap(train, val)
    dev_keys = {normalize_text(ex.text) for ex in val}
    assert not any(normalize_text(ex.text) in dev_keys for ex in kept)
    assert len(train) - len(kept) > 0.9 * len(val)  # nearly all of TweetEval val is in SemEval
    assert len(kept) == 47_471


@needs_data
def test_sentiment_posts_have_real_times_and_labels_follow_posts() -> None:
    examples = sentiment.load_semeval()[:5]
    events = list(sentiment.iter_sentiment_events(examples, "semeval", labels=True))
    assert len(events) == 10
    post, label = events[0], events[1]
    assert post.root_id == post.post_id == examples[0].id
    assert label.task == "sentiment" and label.label == examples[0].label
    assert post.created_at == snowflake_time(examples[0].id)
    val_events = list(sentiment.iter_sentiment_events(sentiment.load_tweeteval_val()[:3], "tweeteval-val"))
    assert [e.created_at for e in val_events] == sorted({e.created_at for e in val_events})
