"""Shared helpers of the dataset loaders: paths, text unescaping and normalisation, tweet-id times."""

from __future__ import annotations

import html
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

UNKNOWN_USER = "unknown"  # user_id of posts whose dataset does not record the author
# Base of synthesised timestamps (datasets without times): a fixed instant, so replays are reproducible.
SYNTHETIC_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
TWITTER_EPOCH_MS = 1288834974657  # snowflake ids (since 2010-11-04) carry their creation time

_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SURROGATES = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[^\w@]+")


def default_data_dir() -> Path:
    """The shared datasets: ../shared/data next to the checkout unless SEQSIGNAL_DATA_DIR says otherwise."""
    env = os.environ.get("SEQSIGNAL_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # the checkout: models/datasets/_common.py
    return (here.parent / "shared" / "data").resolve()


def resolve(path: str | Path | None, default_rel: str) -> Path:
    """`path` if given, else `default_rel` under the shared data dir."""
    return Path(path) if path is not None else default_data_dir() / default_rel


def unescape_u(text: str) -> str:
    """Replace literal `\\uXXXX` escapes (as stored in the SemEval/TweetEval files) by the characters."""
    if "\\u" not in text:
        return text
    out = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    # a pair of escaped surrogates is one astral character (emoji)
    return _SURROGATES.sub(lambda m: m.group(0).encode("utf-16", "surrogatepass").decode("utf-16"), out)


def normalize_text(text: str) -> str:
    """Comparison key for near-identical tweets: lower case, HTML entities decoded, @handles -> @user,
    URLs dropped, punctuation folded to spaces, whitespace collapsed."""
    t = html.unescape(text).lower()
    t = _URL.sub(" ", t)
    t = _HANDLE.sub("@user", t)
    t = _NON_WORD.sub(" ", t)
    return " ".join(t.split())


def snowflake_time(tweet_id: str | int) -> datetime | None:
    """Creation time encoded in a Twitter snowflake id (ids from Nov 2010 on); None for older/other ids."""
    try:
        i = int(tweet_id)
    except ValueError:
        return None
    if i < 20_000_000_000_000_000:  # pre-snowflake ids (< ~2.9e16 in Nov 2010), or not a tweet id
        return None
    return datetime.fromtimestamp(((i >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)


def synthetic_time(index: int, step_s: float = 1.0) -> datetime:
    """A synthesised, strictly increasing timestamp for row `index` of a dataset without times."""
    return SYNTHETIC_EPOCH + timedelta(seconds=index * step_s)
