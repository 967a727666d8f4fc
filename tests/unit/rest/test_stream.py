"""What an event of the stream looks like on the wire, and which Last-Event-ID resumes."""

from __future__ import annotations

import json

from hopper_operator.kube.informer import Change, Kind
from hopper_operator.rest import mapping
from hopper_operator.rest.stream import Streams, StreamSettings, frame, token


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
