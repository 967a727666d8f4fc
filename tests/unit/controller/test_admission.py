"""The webhooks' AdmissionReview answers: a refusal, or the metadata stamped as a JSON Patch.

The decisions themselves are `tests/unit/test_admission_rules.py`'s; kube-apiserver calling
the server over TLS is `tests/integration/test_admission.py`'s.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hopper_operator.api.enums import Scope
from hopper_operator.controller.admission import MUTATE, VALIDATE, BadReviewError, answer
from hopper_operator.controller.admission_server import AdmissionServer
from hopper_operator.controller.settings import WebhookSettings
from hopper_operator.core.admission import stamp
from hopper_operator.core.tree import parent_scope_error
from hopper_operator.core.views import instance_view
from hopper_operator.resources.patches import metadata_patch
from tests.unit.builders import body
from tests.unit.controller.harness import Cluster
from tests.unit.test_merge_patch import apply_json_patch, apply_merge_patch

# --- AdmissionReviews


def review(obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"uid": "u-1", "object": obj}
    if old is not None:
        request["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def cluster_with(*bodies: dict[str, Any]) -> Cluster:
    cluster = Cluster()
    for each in bodies:
        cluster.add(each)
    return cluster


PARENT = body("o", "ORCHESTRATION", parent="x", phase="Running", ready=True)


async def test_a_wrong_rank_is_refused_with_the_stalled_message() -> None:
    reconciler = cluster_with(PARENT).controller().reconciler
    answered = await answer(reconciler, VALIDATE, review(body("p", "PROJECT", parent="o")))
    assert answered["apiVersion"] == "admission.k8s.io/v1"
    assert answered["kind"] == "AdmissionReview"
    assert answered["response"] == {
        "uid": "u-1",
        "allowed": False,
        "status": {"code": 422, "message": parent_scope_error(Scope.PROJECT, Scope.ORCHESTRATION)},
    }


async def test_an_update_leaving_the_spec_alone_is_allowed_whatever_the_tree() -> None:
    reconciler = cluster_with(PARENT).controller().reconciler
    me = body("p", "PROJECT", parent="o")
    answered = await answer(reconciler, VALIDATE, review(me, old=me))
    assert answered["response"] == {"uid": "u-1", "allowed": True}


async def test_a_create_is_stamped_with_what_the_operators_first_pass_would_write() -> None:
    parent = body("p", "PROJECT", parent="g", phase="Running", ready=True)
    root = body("g", "GLOBAL", phase="Running", ready=True)
    reconciler = cluster_with(root, parent).controller().reconciler
    created = body("o", "ORCHESTRATION", parent="p", finalizers=())
    created["metadata"]["labels"] = {"app": "mine"}
    answered = await answer(reconciler, MUTATE, review(created))
    response = answered["response"]
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    operations = json.loads(base64.b64decode(response["patch"]))
    view = instance_view(created)
    change = stamp(reconciler.world(view))
    assert change is not None and change.owner is not None and change.finalizer is True
    expected = apply_merge_patch(created["metadata"], metadata_patch(view, change))
    assert apply_json_patch(created, operations)["metadata"] == expected
    assert expected["labels"]["app"] == "mine"  # the user's own labels stay


async def test_a_create_with_nothing_to_stamp_gets_no_patch() -> None:
    """A deleting object (a create never is, but the rule holds) is left as it is."""
    reconciler = cluster_with().controller().reconciler
    answered = await answer(reconciler, MUTATE, review(body("g", "GLOBAL", deleting=True)))
    assert answered["response"] == {"uid": "u-1", "allowed": True}


@pytest.mark.parametrize(
    ("webhook", "sent"),
    [
        (VALIDATE, {"kind": "AdmissionReview"}),
        (VALIDATE, {"request": {"uid": "u"}}),
        (VALIDATE, ["not", "an", "object"]),
        ("elsewhere", review(body("g"))),
    ],
)
async def test_what_is_not_a_review_for_these_webhooks_is_a_bad_review_error(
    webhook: str, sent: object
) -> None:
    with pytest.raises(BadReviewError):
        await answer(cluster_with().controller().reconciler, webhook, sent)


# --- the server's HTTP answers


class Broken:
    """A reconciler whose world cannot be built: an error of ours."""

    def world(self, view: object) -> object:
        raise RuntimeError("the index is broken")


async def post(server: AdmissionServer, path: str, data: bytes) -> tuple[int, str]:
    app = web.Application()
    app.add_routes([web.post(path, server._review)])
    async with TestClient(TestServer(app)) as client:
        response = await client.post(path, data=data)
        return response.status, await response.text()


async def test_the_server_answers_400_to_what_is_not_a_review_and_500_to_its_own_errors() -> None:
    settings = WebhookSettings(port=1)
    good = AdmissionServer(None, settings, cluster_with().controller().reconciler)  # type: ignore[arg-type]
    status, text = await post(good, f"/{VALIDATE}", b"{not json")
    assert status == 400, text
    status, text = await post(good, f"/{VALIDATE}", b'{"kind": "AdmissionReview"}')
    assert (status, text) == (400, "expected an AdmissionReview with request.object\n")
    status, text = await post(good, f"/{VALIDATE}", json.dumps(review(body("g"))).encode())
    assert status == 200 and json.loads(text)["response"] == {"uid": "u-1", "allowed": True}

    broken = AdmissionServer(None, settings, Broken())  # type: ignore[arg-type]
    status, _ = await post(broken, f"/{VALIDATE}", json.dumps(review(body("g"))).encode())
    assert status == 500  # the configuration's failurePolicy decides


class LoadedKeeper:
    """A certificate keeper whose certificate is loaded (plain HTTP: no context)."""

    loaded, context = b"certificate", None

    class kube:  # noqa: N801  the keeper's client, closed with the server
        @staticmethod
        async def close() -> None:
            return None

    async def keep(self) -> None:
        await asyncio.Event().wait()


async def test_a_port_taken_keeps_the_replica_unready_and_says_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = WebhookSettings(port=taken.getsockname()[1], address="127.0.0.1")
        server = AdmissionServer(LoadedKeeper(), settings, Broken())  # type: ignore[arg-type]
        assert server.unready() == "webhook server not serving yet"
        await asyncio.wait_for(server.serve(), timeout=10)  # returns: it could not listen
    problem = server.unready()
    assert problem is not None and problem.startswith("webhook server stopped: OSError")
