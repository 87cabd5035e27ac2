"""PHEME rumour / non-rumour source tweets (7 events) -> examples and `Post` / `Label` events.

Formats (directory `rumor/pheme`):
- `source_tweets.tsv`: header then `event, rnr, veracity, tweet_id, created_at, user_id, text`, tab
  separated, 3,445 rows; rnr is rumour/non-rumour, veracity non-rumor/true/false/unverified, created_at in
  Twitter's format (`Fri Jan 09 12:29:56 +0000 2015`).
- `raw/<event>-all-rnr-threads.{rumours,non-rumours}.json`: a JSON list of full Twitter API tweet objects with
  an added `VERACITY` field (absent for non-rumours). Checked: these are the same 3,445 source tweets and
  *no replies* (every `in_reply_to_status_id` is null), so PHEME gives threads without replies here.

Decisions: the TSV text is the raw text with whitespace collapsed (479 rows differ only so). Examples
come from the TSV (`iter_pheme`); posts from either (`iter_pheme_raw_posts` keeps the API's `lang`); events
are replayed in created_at order. ebola-essien and charliehebdo have rumours only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson

from seqsignal.models.datasets._common import resolve
from seqsignal.models.datasets.rumor_thread import RumorExample, RumorThread, thread_events
from seqsignal.schemas.events import Label, Post, RumorLabel, Veracity

PHEME_REL = "rumor/pheme"
SOURCE = "pheme"
_TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_VERACITY: dict[str, Veracity] = {"true": "true", "false": "false", "unverified": "unverified",
                                  "non-rumor": "non-rumor"}
_RNR: dict[str, RumorLabel] = {"rumour": "rumour", "non-rumour": "non-rumour"}


def parse_twitter_time(value: str) -> datetime:
    """A Twitter API `created_at` string as an aware datetime."""
    return datetime.strptime(value, _TWITTER_TIME)


def _post(tweet_id: str, user_id: str, text: str, created_at: datetime, lang: str | None = "en") -> Post:
    return Post(post_id=tweet_id, user_id=user_id, text=text, lang=lang, created_at=created_at,
                root_id=tweet_id, source=SOURCE)


def iter_pheme(path: str | Path | None = None) -> Iterator[RumorExample]:
    """Every row of `source_tweets.tsv` (directory `path`) as an example (no replies), in file order."""
    file = resolve(path, PHEME_REL) / "source_tweets.tsv"
    with file.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:4] != ["event", "rnr", "veracity", "tweet_id"]:
            raise ValueError(f"{file}: unexpected header {header}")
        for line in f:
            parts = line.rstrip("\n").split("\t", 6)
            if len(parts) != 7:
                continue
            event, rnr, veracity, tweet_id, created_at, user_id, text = parts
            yield RumorExample(id=tweet_id, text=text, label=_RNR[rnr], veracity=_VERACITY[veracity],
                               event=event, created_at=parse_twitter_time(created_at), dataset=SOURCE,
                               user_id=user_id)


def iter_pheme_threads(path: str | Path | None = None) -> Iterator[RumorThread]:
    """Each example with its source `Post` (real created_at and user id; no replies in PHEME here)."""
    for ex in iter_pheme(path):
        assert ex.created_at is not None and ex.user_id is not None
        yield RumorThread(example=ex, source=_post(ex.id, ex.user_id, ex.text, ex.created_at))


def iter_pheme_raw_posts(path: str | Path | None = None) -> Iterator[Post]:
    """Source posts from the raw Twitter API objects (`raw/*.json`), file by file (name order)."""
    for file in sorted((resolve(path, PHEME_REL) / "raw").glob("*.json")):
        for tweet in orjson.loads(file.read_bytes()):
            yield _post(tweet["id_str"], tweet["user"]["id_str"], tweet["text"],
                        parse_twitter_time(tweet["created_at"]), tweet.get("lang") or None)


def iter_pheme_events(path: str | Path | None = None, labels: bool = False) -> Iterator[Post | Label]:
    """Source posts (and with `labels` their rumour labels) in created_at order."""
    return thread_events(iter_pheme_threads(path), labels)
