"""Replay pieces without a broker: routing, invalid records, pacing; dataset events through the codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seqsignal.models.datasets.streams import DATASET_NAMES, iter_dataset_events
from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.replay import INVALID_KINDS, _Pacer, encode_event, invalid_value, route
from seqsignal.workers.settings import default_data_dir

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ACTION = Action(event_id="e1", user_id="u1", action="reply", target_id="u2", created_at=T0, source="t")
POST = Post(post_id="p2", user_id="u1", text="hi", created_at=T0, reply_to="p1", root_id="p1")


def test_route_keys_actions_by_user_and_posts_by_thread_root() -> None:
    topics = Topics(prefix="x.")
    assert route(ACTION, topics) == (topics.actions, b"u1")
    assert route(POST, topics) == (topics.posts, b"p1")


@pytest.mark.parametrize("kind", INVALID_KINDS)
def test_every_invalid_kind_is_rejected_by_the_codec_with_that_reason(kind: str) -> None:
    for kind_name, event in (("actions", ACTION), ("posts", POST)):
        bad = invalid_value(kind, encode_event(event))
        with pytest.raises(InvalidEvent) as info:
            decode(kind_name, bad)
        assert info.value.reason == kind


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_rate_pacing_spaces_events_by_one_over_rate() -> None:
    clock = FakeClock()
    pacer = _Pacer(rate=100.0, speedup=None, clock=clock, sleep=clock.sleep)
    for n in range(5):
        pacer.wait(n, ACTION)
    assert clock.now == pytest.approx(0.04)


def test_speedup_pacing_follows_event_time() -> None:
    clock = FakeClock()
    pacer = _Pacer(rate=None, speedup=60.0, clock=clock, sleep=clock.sleep)
    for minutes in (0, 1, 1, 3):
        pacer.wait(0, ACTION.model_copy(update={"created_at": T0 + timedelta(minutes=minutes)}))
    assert clock.now == pytest.approx(3.0)  # 3 minutes of event time at 60x
    with pytest.raises(ValueError):
        _Pacer(rate=1.0, speedup=1.0, clock=clock, sleep=clock.sleep)


@pytest.mark.skipif(not (default_data_dir() / "rumor").exists(), reason="shared datasets not found")
@pytest.mark.parametrize("name", DATASET_NAMES)
def test_dataset_events_round_trip_through_the_codec(name: str) -> None:
    kinds = {Post: "posts", Action: "actions"}
    n = 0
    for event in iter_dataset_events(name, labels=True):
        kind = kinds.get(type(event), "labels")
        assert decode(kind, encode_event(event)) == event
        n += 1
        if n >= 20_000:
            break
    assert n > 1_000
