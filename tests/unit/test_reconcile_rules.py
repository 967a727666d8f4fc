"""decide() rule by rule: each behaviour the design names, on a hand-built world."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hopper_operator.api.enums import Phase, Reason
from hopper_operator.api.meta import FINALIZER, Annotation, Label, format_time
from hopper_operator.api.runtime import Runtime
from hopper_operator.core.config import config_hash
from hopper_operator.core.plan import ConfigMapWrite, DeploymentWrite, Plan, Write
from hopper_operator.core.reconcile import decide
from hopper_operator.core.views import InstanceView, WorkloadView
from hopper_operator.core.workload import workload_hash
from hopper_operator.core.world import DEFAULT_PARENT_GRACE_SECONDS
from hopper_operator.resources.patches import metadata_patch, status_patch
from tests.unit.builders import NOW, view, world

RUNTIME = {"image": "img:1", "replicas": 1}


def conditions(plan: Plan) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in plan.status.conditions}


def metadata(plan: Plan, me: InstanceView) -> dict[str, object]:
    """The plan's metadata change, as the merge patch `render` sends for it."""
    return metadata_patch(me, plan.metadata) if plan.metadata else {}


def test_first_pass_adds_finalizer_labels_owner_and_config() -> None:
    parent = view("acme", phase="Running", ready=True, config={"a": {"x": 1, "y": 1}})
    me = view("web", "PROJECT", parent="acme", finalizers=(), config={"a": {"y": 2}})
    plan = decide(world(me, parent))
    assert metadata(plan, me)["finalizers"] == [FINALIZER]
    assert metadata(plan, me)["labels"] == {
        Label.SCOPE: "PROJECT",
        Label.PARENT: "acme",
        Label.ROOT: "acme",
    }
    assert metadata(plan, me)["ownerReferences"] == [
        {
            "apiVersion": "hopper.dev/v1alpha1",
            "kind": "HopperInstance",
            "name": "acme",
            "uid": "uid-acme",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    merged = {"a": {"x": 1, "y": 2}}
    assert plan.config_map == ConfigMapWrite(
        Write.ENSURE, merged, config_hash(merged), exists=False
    )
    assert plan.status.phase is Phase.STARTING and plan.status.depth == 1
    assert plan.status.effective_config_hash == config_hash({"a": {"x": 1, "y": 2}})


def test_recreated_parent_gets_its_new_uid_but_a_deleting_one_is_left_alone() -> None:
    me = view("web", "PROJECT", parent="acme", phase="Running")
    new_parent = view("acme", phase="Running", ready=True, uid="new-uid")
    plan = decide(world(me, new_parent))
    assert [ref["uid"] for ref in metadata(plan, me)["ownerReferences"]] == ["new-uid"]  # type: ignore[attr-defined]
    deleting = view("acme", phase="Stopping", deleting=True)
    assert "ownerReferences" not in metadata(decide(world(me, deleting)), me)


def test_missing_parent_waits_without_moving() -> None:
    me = view("web", "PROJECT", parent="acme", phase="Stopped")
    plan = decide(world(me))
    assert not plan.stepped and plan.config_map is None
    assert conditions(plan)["ParentReady"] == ("False", "ParentNotFound")
    assert conditions(plan)["Reconciling"][0] == "True"
    assert "Stalled" not in conditions(plan)


def test_wrong_parent_scope_stalls_and_warns_once() -> None:
    parent = view("orch", "ORCHESTRATION", parent="acme", phase="Running", ready=True)
    me = view("proj", "PROJECT", parent="orch")
    plan = decide(world(me, parent, view("acme", phase="Running", ready=True)))
    assert not plan.stepped
    assert conditions(plan)["Stalled"] == ("True", "ParentScopeInvalid")
    assert [e.reason for e in plan.events] == ["ParentScopeInvalid"]
    already = view("proj", "PROJECT", parent="orch", phase="Created")
    stalled = plan.status
    again = decide(
        world(
            already.with_status(stalled),
            parent,
            view("acme", phase="Running", ready=True),
        )
    )
    assert again.events == () and not again.status_changed  # no write while nothing changes


def _restart(token: str, phase: str = "Running", **status: Any) -> InstanceView:
    me = view("g", phase=phase, annotations={Annotation.RESTARTED_AT: token})
    return me.with_status(me.status.model_copy(update=status))


def test_restart_walks_down_then_up_and_records_its_token() -> None:
    me = _restart("t1")
    plan = decide(world(me))
    assert plan.status.phase is Phase.STOPPING
    assert plan.status_changed and status_patch(me.status, plan.status)["lastRestart"] == "t1"


def test_restart_tokens_compare_as_text_not_as_times() -> None:
    assert not decide(world(_restart("t1", last_restart="t1"))).stepped
    # Two restarts within one second: the second token differs, so it is a second restart.
    second = _restart("2026-11-26T12:00:00.2Z-b", last_restart="2026-11-26T12:00:00.1Z-a")
    assert decide(world(second)).status.phase is Phase.STOPPING
    paused = decide(world(_restart("t2", phase="Paused", last_restart="t1")))
    assert paused.status.phase is Phase.STOPPING


def test_a_start_carries_out_earlier_restarts() -> None:
    stopped = _restart("t1", phase="Stopped")
    assert decide(world(stopped)).status.phase is Phase.STARTING
    assert decide(world(stopped)).status.last_restart == "t1"
    stays = view("g", phase="Stopped", state="Stopped", annotations={Annotation.RESTARTED_AT: "t"})
    assert not decide(world(stays)).stepped  # a restart never starts a stopped instance


def test_a_time_written_before_tokens_were_recorded_counts_once() -> None:
    started = NOW
    before = _restart("2026-11-26T11:00:00Z", started_at=started)
    assert not decide(world(before)).stepped
    after = _restart(format_time(started + timedelta(seconds=1)))
    after = after.with_status(after.status.model_copy(update={"started_at": started}))
    assert decide(world(after)).status.phase is Phase.STOPPING


def test_every_start_records_a_token_so_a_later_time_is_never_taken_for_an_old_one() -> None:
    started = view("g", phase="Created")
    assert decide(world(started)).status.last_restart == ""
    # Annotated later, within the very second the instance started: still a restart.
    same_second = _restart(format_time(NOW), last_restart="", started_at=NOW)
    assert decide(world(same_second)).status.phase is Phase.STOPPING


def test_temporary_sets_expiry_and_terminates_after_it() -> None:
    me = view("t", phase="Starting", instanceType="Temporary", ttlSeconds=30)
    plan = decide(world(me))
    assert plan.status.phase is Phase.RUNNING
    assert plan.status.expires_at == NOW + timedelta(seconds=30)
    assert plan.requeue_after == 30
    running = view("t", phase="Running", instanceType="Temporary", ttlSeconds=30)
    expired = running.status.model_copy(update={"expires_at": NOW - timedelta(seconds=1)})
    late = running.with_status(expired)
    assert decide(world(late)).status.phase is Phase.STOPPING


def test_ephemeral_deletes_itself_once_stopped() -> None:
    me = view("e", phase="Stopped", state="Stopped", instanceType="Ephemeral")
    assert decide(world(me)).delete_instance


def test_deletion_releases_the_finalizer_only_when_the_workload_is_gone() -> None:
    me = view("d", phase="Stopped", deleting=True, runtime=RUNTIME)
    pods_left = decide(world(me, pods=1))
    assert "finalizers" not in metadata(pods_left, me)
    done = decide(world(me))
    assert metadata(done, me)["finalizers"] == []
    assert replace(done, metadata=None, status=Plan().status) == Plan()  # the object goes


def test_failed_workload_errors_and_recovers_only_on_a_spec_change() -> None:
    failed = WorkloadView("h", 1, True, 0, 1, "ProgressDeadlineExceeded: too slow")
    me = view("w", phase="Starting", runtime=RUNTIME)
    plan = decide(world(me, workload=failed))
    assert plan.status.phase is Phase.ERROR
    assert conditions(plan)["Stalled"] == ("True", Reason.DEPLOYMENT_FAILED)
    assert plan.deployment is None  # the failed Deployment stays, to watch it recover
    errored = view("w", phase="Error", runtime=RUNTIME)
    assert not decide(world(errored, workload=failed)).stepped
    changed = view("w", phase="Error", runtime=RUNTIME, generation=2, observed_generation=1)
    assert decide(world(changed, workload=failed)).status.phase is Phase.STARTING


def test_paused_scales_to_zero_and_stopped_removes_the_workload() -> None:
    workload = WorkloadView("h", 1, True, 1, 1, None)
    paused = decide(
        world(view("w", phase="Running", state="Paused", runtime=RUNTIME), workload=workload)
    )
    assert paused.status.phase is Phase.PAUSED
    assert paused.deployment is not None and paused.deployment.replicas == 0
    stopping = decide(
        world(view("w", phase="Running", state="Stopped", runtime=RUNTIME), workload=workload)
    )
    assert stopping.status.phase is Phase.STOPPING
    assert stopping.deployment == DeploymentWrite(Write.DELETE)


def test_children_are_counted_by_phase() -> None:
    kids = (
        view("a", "PROJECT", parent="g", phase="Running"),
        view("b", "PROJECT", parent="g", phase="Paused"),
        view("c", "PROJECT", parent="g", phase="Running"),
    )
    plan = decide(world(view("g", phase="Running", ready=True), children=kids))
    assert plan.status.children is not None
    assert plan.status.children.total == 3
    assert plan.status.children.by_phase == {"Paused": 1, "Running": 2}


def test_a_new_child_holds_silently_while_its_parent_settles() -> None:
    grace = 10.0  # when the operator is given one (--parent-grace-seconds)
    just_now = "2026-11-26T11:59:59Z"  # one second before NOW
    starting = view("acme", phase="Starting")
    fresh = view("web", "PROJECT", parent="acme", created=just_now)
    plan = decide(world(fresh, starting, parent_grace=grace))
    assert not plan.status_changed and plan.metadata is None and plan.events == ()
    assert plan.requeue_after == grace - 1
    assert decide(world(fresh, parent_grace=grace)).requeue_after == grace - 1  # no parent yet
    old = view("web", "PROJECT", parent="acme", created="2026-11-26T11:00:00Z")
    assert decide(world(old, starting, parent_grace=grace)).status_changed  # past the grace
    settled = view("acme", phase="Running", ready=True)
    assert decide(world(fresh, settled, parent_grace=grace)).status.phase is Phase.STARTING
    stopped = view("acme", phase="Created", state="Stopped", ready=True)
    assert decide(world(fresh, stopped, parent_grace=grace)).status_changed  # nothing to wait for


def test_by_default_a_new_child_reports_at_once() -> None:
    """The grace saved no write the bench could see (bench/RESULTS.md, issue 22) and left
    a child with no status at all, which kstatus counts as Current: off by default."""
    assert DEFAULT_PARENT_GRACE_SECONDS == 0
    fresh = view("web", "PROJECT", parent="acme", created="2026-11-26T11:59:59Z")
    plan = decide(world(fresh, view("acme", phase="Starting")))
    assert plan.requeue_after is None and plan.status_changed


def test_the_grace_of_a_new_child_is_a_setting_and_zero_reports_at_once() -> None:
    just_now = "2026-11-26T11:59:59Z"  # one second before NOW
    starting = view("acme", phase="Starting")
    fresh = view("web", "PROJECT", parent="acme", created=just_now)
    assert decide(world(fresh, starting, parent_grace=30)).requeue_after == 29
    at_once = decide(world(fresh, starting, parent_grace=0))
    assert at_once.requeue_after is None and at_once.status_changed
    assert at_once.status.conditions  # ParentReady=False says why it waits
    orphan = decide(world(fresh, parent_grace=0))
    assert orphan.status_changed


def test_the_deployment_is_applied_only_when_what_it_was_built_from_changed() -> None:
    me = view("w", phase="Running", state="Running", runtime=RUNTIME, ready=True)
    digest = config_hash({})
    built = workload_hash(Runtime.model_validate(RUNTIME), 1, digest)
    same = WorkloadView(built, 1, True, 1, 1, None)
    plan = decide(world(me, workload=same, config_map_hash=digest))
    assert plan.deployment is None and plan.config_map is None
    older = replace(same, spec_hash="from-another-spec")
    plan = decide(world(me, workload=older, config_map_hash=digest))
    assert plan.deployment == DeploymentWrite(
        Write.ENSURE, Runtime.model_validate(RUNTIME), 1, digest
    )


def test_the_config_map_is_created_applied_or_deleted() -> None:
    me = view("g", phase="Running", config={"k": "v"})
    assert decide(world(me)).config_map == ConfigMapWrite(
        Write.ENSURE, {"k": "v"}, config_hash({"k": "v"}), exists=False
    )
    stale = decide(world(me, config_map_hash="old"))
    assert stale.config_map is not None and stale.config_map.exists
    terminating = view("g", phase="Stopped", state="Terminated")
    plan = decide(world(terminating, config_map_hash="old"))
    assert plan.status.phase is Phase.TERMINATED
    assert plan.config_map == ConfigMapWrite(Write.DELETE)


def test_an_unreadable_spec_stalls_with_its_reason_and_changes_nothing() -> None:
    broken = view("g", phase="Running", state="Sideways")
    plan = decide(world(broken))
    assert conditions(plan)["Stalled"] == ("True", Reason.INVALID_SPEC)
    assert plan.metadata is None and plan.config_map is None and plan.deployment is None
