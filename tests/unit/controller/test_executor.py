"""The executor sends what it is given, in order, with each precondition, and nothing else."""

from __future__ import annotations

import pytest

from hopper_operator.controller.executor import Executor
from hopper_operator.kube.client import ConflictError, KubeError, NotFoundError
from hopper_operator.resources.paths import config_map_path, events_path, instance_path
from hopper_operator.resources.render import Method, Request, Requests, Target
from tests.unit.controller.fakes import RecordingKube

PATH = instance_path("ns", "g")
CM = config_map_path("ns", "g-config")


def instance(version: str = "10", uid: str = "u1") -> dict[str, object]:
    return {"metadata": {"name": "g", "namespace": "ns", "resourceVersion": version, "uid": uid}}


def metadata_then_status(version: str = "10") -> tuple[Request, ...]:
    labels = {"metadata": {"labels": {"a": "b"}}}
    status = {"status": {"phase": "Starting"}}
    return (
        Request(Method.MERGE_PATCH, PATH, Target.INSTANCE, labels, precondition=version),
        Request(Method.MERGE_PATCH, f"{PATH}/status", Target.INSTANCE, status, version),
    )


async def test_each_write_carries_the_version_of_the_last_write_before_it() -> None:
    kube = RecordingKube()
    kube.put(PATH, instance("10"))
    written = await Executor(kube).run(Requests(metadata_then_status("10"), ()))
    versions = [call.body["metadata"]["resourceVersion"] for call in kube.calls if call.body]
    first_write = "100"  # the fake's first resourceVersion
    assert versions == ["10", first_write]
    assert written[Target.INSTANCE]["status"] == {"phase": "Starting"}
    assert written[Target.INSTANCE]["metadata"]["labels"] == {"a": "b"}


async def test_a_refused_precondition_stops_the_pass() -> None:
    kube = RecordingKube()
    kube.put(PATH, instance("11"))  # someone wrote since the decision
    with pytest.raises(ConflictError):
        await Executor(kube).run(Requests(metadata_then_status("10"), ()))
    assert kube.sent == [("merge-patch", PATH)]  # the status patch was never sent


async def test_the_instance_delete_carries_its_uid_and_the_version_last_written() -> None:
    kube = RecordingKube()
    kube.put(PATH, instance("10"))
    status = {"status": {"phase": "Terminated"}}
    delete = Request(Method.DELETE, PATH, Target.INSTANCE, {"preconditions": {"uid": "u1"}}, "10")
    patch = Request(Method.MERGE_PATCH, f"{PATH}/status", Target.INSTANCE, status, "10")
    await Executor(kube).run(Requests((patch, delete), ()))
    assert kube.calls[-1].body == {"preconditions": {"uid": "u1", "resourceVersion": "100"}}
    assert PATH not in kube.objects
    # Recreated under the same name meanwhile: another uid, so the delete is refused.
    kube.put(PATH, instance("10", uid="u2"))
    with pytest.raises(ConflictError):
        await Executor(kube).run(Requests((delete,), ()))
    assert PATH in kube.objects


async def test_a_missing_object_is_not_found_and_a_missing_delete_is_done() -> None:
    kube = RecordingKube()
    gone = Request(Method.DELETE, CM, Target.CONFIG_MAP)
    assert await Executor(kube).run(Requests((gone,), ())) == {}
    with pytest.raises(NotFoundError):
        await Executor(kube).run(Requests(metadata_then_status(), ()))


async def test_a_create_that_finds_the_object_falls_back_to_its_apply() -> None:
    kube = RecordingKube()
    kube.put(CM, {"metadata": {"name": "g-config", "resourceVersion": "5"}, "data": {}})
    body = {"metadata": {"name": "g-config"}, "data": {"config.json": "{}"}}
    apply = Request(Method.APPLY, CM, Target.CONFIG_MAP, body)
    create = Request(Method.CREATE, config_map_path("ns"), Target.CONFIG_MAP, body, fallback=apply)
    written = await Executor(kube).run(Requests((create,), ()))
    assert kube.sent == [("create", config_map_path("ns")), ("apply", CM)]
    assert written[Target.CONFIG_MAP]["data"] == {"config.json": "{}"}


async def test_events_are_posted_beside_the_writes_and_a_failed_one_fails_nothing() -> None:
    kube = RecordingKube()
    kube.put(PATH, instance())
    post = events_path("ns")
    kube.failures[("create", post)] = KubeError(403, "forbidden")
    note = Request(Method.CREATE, post, Target.EVENT, {"metadata": {"generateName": "g."}})
    executor = Executor(kube)
    await executor.run(Requests(metadata_then_status(), (note, note)))
    await executor.drain()
    assert kube.sent == [
        ("merge-patch", PATH),
        ("merge-patch", f"{PATH}/status"),
        ("create", post),
        ("create", post),
    ]
