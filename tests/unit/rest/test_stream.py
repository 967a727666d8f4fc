"""What an event of the stream looks like on the wire, and which Last-Event-ID resumes."""

from __future__ import annotations

import json

from hopper_operator.kube.informer import Change, Kind
from hopper_operator.rest import mapping
from hopper_operator.rest.stream import RESET, Streams, StreamSettings, _frames, frame, token


def test_an_event_is_its_id_kind_and_the_instance_as_get_answers_it() -> None:
    obj = {
        "metadata": {"name": "one", "resourceVersion": "42", "creationTimestamp": None},
        "spec": {"scope": "GLOBAL", "displayName": "One"},
    }
    lines = Streams(StreamSettings()).frame(Change(Kind.MODIFIED, obj, 42)).decode()
    assert lines.endswith("\n\n")
    head, kind, data = lines.strip("\n").split("\n")
    assert (head, kind) == ("id: 42", "event: modified")
    body = json.loads(data.removeprefix("data: "))
    assert body == json.loads(mapping.to_instance(obj).model_dump_json()) and body["id"] == "one"


def test_synced_names_its_point_and_reset_clears_the_clients() -> None:
    assert frame(Change(Kind.SYNCED, None, 7)) == b"id: 7\nevent: synced\ndata: {}\n\n"
    assert frame(Change(Kind.RESET, None, 0)) == b"id: \nevent: reset\ndata: {}\n\n"


def test_a_last_event_id_is_a_version_or_a_reset() -> None:
    assert token(None) is None and token("") is None
    assert token("1234") == 1234
    assert token("abc") == -1 and token("-5") == -1


def instance(name: str, version: int) -> dict[str, object]:
    meta = {"name": name, "resourceVersion": str(version), "creationTimestamp": None}
    return {"metadata": meta, "spec": {"scope": "GLOBAL", "displayName": name}}


def test_a_burst_is_its_events_in_order_each_encoded_once_for_every_stream() -> None:
    streams = Streams(StreamSettings())
    burst = [
        Change(Kind.MODIFIED, instance("one", 8), 8),
        Change(Kind.ADDED, instance("two", 9), 9),
        Change(Kind.SYNCED, None, 9),
    ]
    frames, last = _frames(streams, burst, single=False)
    assert [streams.frame(c) for c in burst] == frames and not last
    again, _ = _frames(streams, burst[:2], single=False)
    assert all(a is b for a, b in zip(again, frames, strict=False))  # encoded once
    # The same version as another kind (a filter's move in): its own event.
    moved = streams.frame(Change(Kind.ADDED, instance("one", 8), 8))
    assert moved.startswith(b"id: 8\nevent: added\n")


def test_a_burst_ends_the_stream_at_an_overflow_or_its_instances_deletion() -> None:
    streams = Streams(StreamSettings())
    later = Change(Kind.MODIFIED, instance("two", 12), 12)
    overflowed = [Change(Kind.MODIFIED, instance("one", 8), 8), Change(Kind.OVERFLOW, None, 0)]
    frames, last = _frames(streams, [*overflowed, later], single=False)
    assert last and frames[-1] == RESET and len(frames) == 2
    gone = Change(Kind.DELETED, instance("one", 11), 11)
    frames, last = _frames(streams, [gone, later], single=True)
    assert last and len(frames) == 1
    frames, last = _frames(streams, [gone, later], single=False)
    assert not last and len(frames) == 2
