"""Pure window rules: record codec, bounding by count and age, redelivery and duplicate handling."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from seqsignal.workers.state import window_rules as wr
from seqsignal.workers.state.window_rules import ActionEvent, PostEvent, Record, ThreadWindow, UserWindow

DAY_MS = 86_400_000
MAX_N, MAX_AGE = 8, 3 * DAY_MS

records_st = st.builds(
    Record,
    st.integers(0, (1 << 48) - 1),
    st.integers(0, len(wr.ACTION_CODES) - 1),
    st.integers(0, (1 << 32) - 1),  # format 3 stores 32-bit event hashes
    st.binary(max_size=wr.MAX_TARGET_BYTES),
)
windows_st = st.builds(
    UserWindow,
    hw=st.none() | st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**53)),
    state=st.none() | st.binary(max_size=300),
    state_version=st.text(max_size=40),
    state_ts=st.floats(allow_nan=False),
    records=st.lists(records_st, max_size=70).map(tuple),
).map(lambda w: w if w.state is not None else UserWindow(hw=w.hw, records=w.records))


@st.composite
def streams(draw: st.DrawFn) -> list[ActionEvent]:
    """One user's deliveries: increasing offsets, clustered or shuffled ts, repeated hashes, redeliveries."""
    n = draw(st.integers(0, 40))
    base = 1_700_000_000_000
    ts = draw(st.lists(st.integers(0, 6 * DAY_MS), min_size=n, max_size=n))
    hashes = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))  # small range: source duplicates
    events = [ActionEvent(0, i, base + t, i % 6, h) for i, (t, h) in enumerate(zip(ts, hashes, strict=True))]
    rng = random.Random(draw(st.integers(0, 2**32)))
    out: list[ActionEvent] = []
    for e in events:
        out.append(e)
        if out and rng.random() < 0.15:  # crash: redeliver a suffix, or one earlier event out of order
            out += (
                events[rng.randrange(e.offset + 1) : e.offset + 1]
                if rng.random() < 0.5
                else [rng.choice(out)]
            )
    return out


def _apply(w: UserWindow, events: list[ActionEvent]) -> tuple[UserWindow, list[wr.Status]]:
    return wr.apply_actions(w, events, max_actions=MAX_N, max_age_ms=MAX_AGE)


@given(windows_st)
def test_user_codec_round_trips(w: UserWindow) -> None:
    blob = wr.encode_user(w)
    assert wr.decode_user(blob) == w
    assert blob[0] == wr.FORMAT_VERSION == 3  # sizes: tests/unit/workers/test_window_format.py


def test_targets_are_stored_once_as_they_come_and_too_long_ones_dropped() -> None:
    evs = [wr.action_event(0, i, float(i), "reply", f"e{i}", t) for i, t in enumerate(["al", "x" * 65, "al"])]
    w, _ = wr.apply_actions(UserWindow(), evs, max_actions=4, max_age_ms=DAY_MS)
    assert [r.to_action().target for r in w.records] == ["al", None, "al"]
    assert wr.encode_targets([r.target for r in w.records]) == b"\x00\x01\x02al\x01\x00\x01"
    assert wr.decode_window(wr.encode_user(w))[1] == [r.to_action() for r in w.records]
    many = [str(i).encode() for i in range(300)]  # 255 distinct or more: two-byte indices
    assert wr.decode_targets(wr.encode_targets(many), 300) == many


def test_record_is_15_bytes_and_64_actions_fit_the_budget() -> None:
    w = UserWindow(
        hw=(3, 10**9),
        state=bytes(256),
        state_version="behavior-v12",
        state_ts=1.0,
        records=tuple(Record(1_700_000_000_000 + i, 1, i) for i in range(64)),
    )
    assert wr.RECORD_SIZE == 15  # formats 1-2, still read
    assert len(wr.encode_user(w)) <= 1300 - 7 * 64  # format 3: about 8 bytes a record


@given(streams())
@settings(max_examples=300)
def test_window_invariants(events: list[ActionEvent]) -> None:
    w, statuses = _apply(UserWindow(), events)
    ts = [r.ts_ms for r in w.records]
    assert ts == sorted(ts)
    assert len(w.records) <= MAX_N
    assert not ts or ts[0] >= ts[-1] - MAX_AGE
    assert len({r.event_hash for r in w.records}) == len(w.records)
    assert w.hw == (max((e.partition, e.offset) for e in events) if events else None)
    # each offset is accepted (added or duplicate) at most once
    accepted = [e.offset for e, s in zip(events, statuses, strict=True) if s != wr.REDELIVERED]
    assert len(accepted) == len(set(accepted)) == len({e.offset for e in events})


@given(streams(), st.lists(st.integers(0, 60), max_size=6))
@settings(max_examples=300)
def test_result_does_not_depend_on_batching(events: list[ActionEvent], cuts: list[int]) -> None:
    whole, whole_status = _apply(UserWindow(), events)
    w, statuses, start = UserWindow(), [], 0
    for cut in [*sorted(c for c in cuts if c < len(events)), len(events)]:
        w, s = _apply(w, events[start:cut])
        statuses += s
        start = cut
    assert (w, statuses) == (whole, whole_status)


@given(streams())
def test_replaying_everything_changes_nothing(events: list[ActionEvent]) -> None:
    w, _ = _apply(UserWindow(), events)
    again, statuses = _apply(w, events)
    assert again == w
    assert set(statuses) <= {wr.REDELIVERED}


def test_count_bound_keeps_the_latest_and_age_is_relative_to_newest() -> None:
    events = [ActionEvent(0, i, i * 1000, 0, i) for i in range(20)]
    w, statuses = _apply(UserWindow(), events)
    assert statuses == [wr.ADDED] * 20
    assert [r.event_hash for r in w.records] == list(range(12, 20))
    w, _ = _apply(w, [ActionEvent(0, 20, 19_000 + MAX_AGE + 1, 0, 99)])
    assert [r.event_hash for r in w.records] == [99]  # everything else is now older than max_age


def test_late_action_is_inserted_in_time_order_and_ties_keep_arrival_order() -> None:
    events = [ActionEvent(0, 0, 5000, 0, 1), ActionEvent(0, 1, 3000, 1, 2), ActionEvent(0, 2, 5000, 2, 3)]
    w, _ = _apply(UserWindow(), events)
    assert [r.event_hash for r in w.records] == [2, 1, 3]


def test_redelivery_and_duplicate_hash_are_dropped_and_partition_change_is_accepted() -> None:
    w, s = _apply(
        UserWindow(), [ActionEvent(1, 5, 0, 0, 1), ActionEvent(1, 5, 0, 0, 1), ActionEvent(1, 6, 0, 0, 1)]
    )
    assert s == [wr.ADDED, wr.REDELIVERED, wr.DUPLICATE] and w.hw == (1, 6)
    w, s = _apply(w, [ActionEvent(2, 0, 10, 0, 2)])  # partitions were added: the user moved
    assert s == [wr.ADDED] and w.hw == (2, 0) and len(w.records) == 2


def test_event_hash_and_ts_are_stable() -> None:
    assert wr.event_hash("e1") == wr.event_hash("e1") != wr.event_hash("e2")
    assert 0 <= wr.event_hash("x") < 2**64
    assert wr.ts_to_ms(1_700_000_000.1234) == 1_700_000_000_123
    assert wr.ts_to_ms(-5) == 0
    ev = wr.action_event(0, 1, 2.5, "follow", "e")
    assert (ev.ts_ms, wr.ACTION_TYPES[ev.code]) == (2500, "follow")


# ----------------------------------------------------------------------------------------------- threads
def _post(off: int, pid: str, ts: int, src: bool = False) -> PostEvent:
    return PostEvent(0, off, pid, ts, src, f"text {pid}")


def test_thread_source_replies_order_bound_and_count() -> None:
    posts = [_post(0, "r1", 30), _post(1, "root", 10, True), _post(2, "r0", 20), _post(3, "r2", 40)]
    t, s = wr.apply_posts(ThreadWindow(), posts, max_replies=2)
    assert s == [wr.ADDED] * 4
    assert t.source_text == "text root"
    assert [r.post_id for r in t.replies] == ["r1", "r2"]  # the latest two, in created order
    assert t.replies_seen == 3
    t2, s2 = wr.apply_posts(t, [*posts, _post(4, "root", 10, True), _post(5, "r2", 40)], max_replies=2)
    assert s2 == [wr.REDELIVERED] * 4 + [wr.DUPLICATE] * 2
    assert t2.replies == t.replies and t2.replies_seen == 3 and t2.hw == (0, 5)


def test_thread_ties_are_ordered_by_post_id_bytes_like_a_sorted_set() -> None:
    t, _ = wr.apply_posts(
        ThreadWindow(), [_post(0, "b", 5), _post(1, "a", 5), _post(2, "c", 1)], max_replies=9
    )
    assert [r.post_id for r in t.replies] == ["c", "a", "b"]
