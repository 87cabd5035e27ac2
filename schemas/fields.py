"""Field types every event shares: RFC 3339 UTC timestamps, bounded ids and numbers, label vocabularies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
INT32_MAX = 2**31 - 1

# RFC 3339 `date-time` (section 5.6): pydantic alone also takes "2024-01-01 00:00Z", "+0200", bare unix
# seconds in a string and more, none of which the JSON Schema `format: date-time` allows. [0-9], not \d:
# \d also matches non-ASCII digits, which int() and fromisoformat() would read.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _parse_rfc3339(value: Any) -> Any:
    # Parsed here, not by pydantic: the codec validates in strict mode, where pydantic would refuse a str
    # handed over by a validator, and pydantic's own parser is far more lenient than RFC 3339.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value) is not None:
        try:
            return datetime.fromisoformat(value.upper())  # ranges: month 13, second 60, offset 24:00 fail
        except ValueError:
            pass
    raise ValueError("timestamp must be an RFC 3339 date-time with an offset, e.g. 2024-01-31T12:00:00Z")


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00
        raise ValueError("timestamp is out of range once converted to UTC") from None


# Every timestamp: timezone-aware, RFC 3339 when given as a string, stored (and encoded) in UTC.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_parse_rfc3339), AfterValidator(_to_utc)]
Id = Annotated[str, Field(min_length=1, max_length=256)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
# A metric is a double within +-(2**53 - 1), JavaScript's safe integers: no JSON integer beyond 64 bits
# fits, and every integer up to the bound is exact as a double, so all validators compare alike.
MAX_SAFE_INTEGER = 2**53 - 1
Metric = Annotated[float, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]

ActionType = Literal["post", "repost", "like", "reply", "mention", "follow"]
ACTION_TYPES: tuple[ActionType, ...] = ("post", "repost", "like", "reply", "mention", "follow")
SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
RumorLabel = Literal["rumour", "non-rumour"]
RUMOR_LABELS: tuple[RumorLabel, ...] = ("rumour", "non-rumour")
Veracity = Literal["true", "false", "unverified", "non-rumor"]
Task = Literal["behavior", "sentiment", "rumor"]


def utc_from_unix(ts: float) -> datetime:
    """A timezone-aware UTC datetime from unix seconds."""
    return datetime.fromtimestamp(ts, tz=UTC)
