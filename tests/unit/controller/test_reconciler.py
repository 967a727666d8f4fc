"""A reconcile pass end to end against the recording client: what it sends, and retries."""

from __future__ import annotations

from hopper_operator.kube.client import ConflictError, KubeError, NotFoundError
from hopper_operator.resources.paths import config_map_path, events_path, instance_path
from tests.unit.builders import body
from tests.unit.controller.harness import Cluster

PATH = instance_path("ns", "g")


async def test_a_new_root_walks_to_running_in_one_pass() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", finalizers=()))
    controller = cluster.controller()
    await controller.process(key)
    await controller.reconciler.drain()
    writes = [call for call in cluster.kube.calls if call.path != events_path("ns")]
    assert [(c.verb, c.path) for c in writes] == [
        ("merge-patch", PATH),  # finalizer and labels
        ("create", config_map_path("ns")),
        ("merge-patch", f"{PATH}/status"),  # Created -> Starting
        ("merge-patch", f"{PATH}/status"),  # Starting -> Running: no workload to wait for
    ]
    # Each instance write carries the version the one before it returned.
    assert [c.body["metadata"]["resourceVersion"] for c in writes if c.path != writes[1].path] == [
        "10",
        "100",
        "102",
    ]
    stored = cluster.kube.objects[PATH]
    assert stored["status"]["phase"] == "Running"
    assert stored["metadata"]["finalizers"] == ["hopper.dev/finalizer"]
    # One Event for the pass, telling the whole walk.
    events = [c.body for c in cluster.kube.calls if c.path == events_path("ns")]
    assert [(e["reason"], e["message"]) for e in events] == [
        ("Running", "Created -> Starting -> Running (towards Running)")
    ]


async def test_a_pass_waits_until_the_index_has_seen_its_own_last_write() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", finalizers=()))
    controller = cluster.controller()
    await controller.process(key)
    sent = len(cluster.kube.calls)
    await controller.process(key)  # the index still shows version 10
    assert len(cluster.kube.calls) == sent
    cluster.sync()
    await controller.process(key)  # caught up, and at rest: nothing to write
    await controller.reconciler.drain()
    assert len([c for c in cluster.kube.calls if c.path != events_path("ns")]) == 4


async def test_a_conflict_requeues_soon_and_a_failure_backs_off() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", phase="Running"))
    controller = cluster.controller()
    cluster.kube.failures[("merge-patch", f"{PATH}/status")] = ConflictError(409, "modified")
    await controller.process(key)
    assert cluster.queued.keys == {key: 0.5}
    delays = []
    for _ in range(3):
        cluster.queued.keys.clear()
        cluster.kube.failures[("merge-patch", f"{PATH}/status")] = KubeError(500, "etcd")
        cluster.sync()
        await controller.process(key)
        delays.append(cluster.queued.keys[key])
    assert delays == [0.5, 1.0, 2.0]
    cluster.queued.keys.clear()
    cluster.sync()
    await controller.process(key)  # succeeds: the next failure starts over
    assert cluster.queued.keys == {}
    cluster.kube.failures[("merge-patch", f"{PATH}/status")] = KubeError(500, "etcd")
    cluster.kube.objects[PATH]["status"]["phase"] = "Paused"  # something to write again
    cluster.sync()
    await controller.process(key)
    assert cluster.queued.keys == {key: 0.5}


async def test_an_object_gone_meanwhile_ends_the_pass_quietly() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", phase="Running"))
    controller = cluster.controller()
    cluster.kube.failures[("merge-patch", f"{PATH}/status")] = NotFoundError(404, "gone")
    await controller.process(key)
    # Retried, not dropped: a 404 may be of something else than the instance itself...
    assert cluster.queued.keys == {key: 0.5}
    # ...and once the watch has seen the instance go, the retry ends it.
    cluster.queued.keys.clear()
    del cluster.instances[key]
    await controller.process(key)
    assert cluster.queued.keys == {} and cluster.queued.backoff.failures(key) == 0


async def test_a_pass_marks_what_it_decided_on_and_an_early_return_forgets_it() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", finalizers=()))
    controller = cluster.controller()
    await controller.process(key)
    final = cluster.kube.objects[PATH]["metadata"]["resourceVersion"]
    # It decided again on its last write and found nothing to do: that echo, and those of
    # its earlier writes, bring nothing new.
    assert controller.reconciler.records.decided_on(key, final)
    assert controller.reconciler.records.decided_on(key, "100")
    assert not controller.reconciler.records.decided_on(key, str(int(final) + 1))
    # Woken while the index still shows an older version: the echo must wake it after all.
    await controller.process(key)
    assert not controller.reconciler.records.decided_on(key, final)


async def test_a_write_without_a_step_is_decided_on_again_so_its_echo_wakes_nothing() -> None:
    cluster = Cluster()
    key = cluster.add(body("g", finalizers=()))
    controller = cluster.controller()
    await controller.process(key)  # to Running
    await controller.reconciler.drain()
    stored = cluster.kube.objects[PATH]
    stored["metadata"]["generation"] = 2  # a spec change that moves nothing: status only
    cluster.sync()
    sent = len(cluster.kube.calls)
    await controller.process(key)
    await controller.reconciler.drain()
    writes = cluster.kube.calls[sent:]
    assert [(c.verb, c.path) for c in writes] == [("merge-patch", f"{PATH}/status")]
    assert cluster.kube.objects[PATH]["status"]["observedGeneration"] == 2
    assert controller.reconciler.records.decided_on(
        key, cluster.kube.objects[PATH]["metadata"]["resourceVersion"]
    )
