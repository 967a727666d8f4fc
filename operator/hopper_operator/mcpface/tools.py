"""The tools: what each takes and answers, the RBAC it needs, and the few lines into the
REST layer's service functions that carry it out (what a verb means, when it is done and
what a refusal says are theirs and the core's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast

import mcp_types as types
from pydantic import BaseModel

from hopper_operator.api.enums import Phase
from hopper_operator.api.meta import GROUP, PLURAL
from hopper_operator.api.wire import InstanceBody
from hopper_operator.core.verbs import (
    MEANINGS,
    Judgement,
    Progress,
    Verb,
    judge,
    progress,
    stalled_message,
    summary,
)
from hopper_operator.mcpface import bodies
from hopper_operator.mcpface.arguments import (
    Arguments,
    CreateArguments,
    DeleteArguments,
    InstanceArguments,
    ListArguments,
    VerbArguments,
    WaitArguments,
)
from hopper_operator.rest import mapping, service
from hopper_operator.rest.errors import ApiError
from hopper_operator.rest.schemas import Instance, InstanceList, InstanceStatus, Status
from hopper_operator.rest.store import Store


@dataclass(frozen=True)
class Call:
    """One tool call, allowed: where, by whom, over which store."""

    store: Store
    namespace: str
    user: str


@dataclass(frozen=True)
class Answer:
    body: BaseModel
    note: str | None = None  # said beside the body: still on its way, stalled


A = TypeVar("A", bound=Arguments)
# Where a call runs, once its arguments name the namespace: the caller judged for the
# tool's verb there (`server.call` knows how).
Start = Callable[[str | None], Awaitable[Call]]
Invoke = Callable[[Mapping[str, object], Start], Awaitable[Answer]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[Arguments]
    output: type[BaseModel]
    verb: str  # what kubectl would need on hopperinstances
    invoke: Invoke  # validates the arguments (pydantic's ValidationError), then runs
    reads: bool = False
    destructive: bool = False
    idempotent: bool = False

    def listed(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            description=self.description,
            input_schema=self.arguments.model_json_schema(),
            output_schema=self.output.model_json_schema(),
            annotations=types.ToolAnnotations(
                read_only_hint=self.reads,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
            _meta={RBAC: {"verb": self.verb, "resource": PLURAL, "group": GROUP}},
        )


RBAC = "hopper.dev/rbac"


def invoking(arguments: type[A], run: Callable[[Call, A], Awaitable[Answer]]) -> Invoke:
    async def invoke(raw: Mapping[str, object], start: Start) -> Answer:
        args = arguments.model_validate(raw)
        return await run(await start(args.namespace), args)

    return invoke


def tool(
    name: str, description: str, arguments: type[A], output: type[BaseModel], verb: str, *,
    run: Callable[[Call, A], Awaitable[Answer]], reads: bool = False,
    destructive: bool = False, idempotent: bool = False,
) -> Tool:  # fmt: skip
    return Tool(
        name, description, arguments, output, verb, invoking(arguments, run),
        reads=reads, destructive=destructive, idempotent=idempotent,
    )  # fmt: skip


def uri(namespace: str, name: str) -> str:
    return f"hopper://namespaces/{namespace}/instances/{name}"


async def _list(call: Call, args: ListArguments) -> Answer:
    query = mapping.ListQuery(
        frozenset(args.scope), frozenset(args.status), args.parent_id, args.root_only,
        args.sort_by, args.sort_order, args.skip, args.limit,
    )  # fmt: skip
    return Answer(await service.page(call.store, call.namespace, query))


async def _get(call: Call, args: InstanceArguments) -> Answer:
    return Answer(mapping.to_instance(await service.read(call.store, call.namespace, args.id)))


async def _tree(call: Call, args: InstanceArguments) -> Answer:
    hierarchy = await service.hierarchy(call.store, call.namespace, args.id)
    return Answer(bodies.tree(hierarchy, await call.store.list(call.namespace)))


async def _wait(call: Call, args: WaitArguments) -> Answer:
    obj = await service.read(call.store, call.namespace, args.id, fresh=True)
    phases = {args.status.phase} if args.status else None

    def done(seen: mapping.Object) -> bool:
        body = cast(InstanceBody, seen)
        if args.ready:
            return progress(body, phases=phases) is not Progress.UNDERWAY
        stalled = progress(body) is Progress.STALLED
        return stalled or phases is None or mapping.phase_of(seen) in phases

    last, arrived = await call.store.wait(obj, done, args.timeout_seconds)
    verdict = mapping.status_body(last)
    if progress(cast(InstanceBody, last)) is Progress.STALLED:
        # It will not get there by itself: refused at once, as a REST verb's wait is.
        raise ApiError(409, stalled_message(cast(InstanceBody, last)))
    if not arrived:
        wanted = " and ".join(
            ([args.status.value] if args.status else []) + (["ready"] if args.ready else [])
        )
        note = (
            f"Instance {args.id} is not yet {wanted} after {args.timeout_seconds:g} s "
            f"(now {verdict.status.value}); wait again, or follow {uri(call.namespace, args.id)}"
        )
        return Answer(verdict, note)
    return Answer(verdict)


async def _create(call: Call, args: CreateArguments) -> Answer:
    created = await service.create(
        call.store, call.namespace, args.body(), user=call.user, field="arguments"
    )
    return Answer(mapping.to_instance(created))


async def _delete(call: Call, args: DeleteArguments) -> Answer:
    await service.delete(call.store, call.namespace, args.id, user=call.user, purge=args.purge)
    if args.purge:
        return Answer(bodies.Deleted(id=args.id, purged=True, status=None))
    kept = await service.read(call.store, call.namespace, args.id, fresh=True)
    status = Status.of(mapping.phase_of(kept))
    return Answer(bodies.Deleted(id=args.id, purged=False, status=status))


def _verb(verb: Verb) -> Callable[[Call, VerbArguments], Awaitable[Answer]]:
    async def act(call: Call, args: VerbArguments) -> Answer:
        done, arrived = await service.act(
            call.store, call.namespace, args.id, verb, user=call.user, wait=args.wait,
            within=args.timeout_seconds,
        )  # fmt: skip
        instance = mapping.to_instance(done)
        if arrived:
            return Answer(instance)
        heads = MEANINGS[verb].heads.value.lower()
        note = (
            f"Instance {args.id} is on its way to {heads} (now {instance.status}); "
            f"wait with hopper_wait_for_instance or follow {uri(call.namespace, args.id)}"
        )
        return Answer(instance, note)

    return act


# Stop and terminate take a workload away; every verb but restart (a new one each time) has
# no further effect when asked again (it is refused as already there).
DESTRUCTIVE = frozenset({Verb.STOP, Verb.TERMINATE})


def _verb_description(verb: Verb) -> str:
    """What a model needs to choose `verb`, every word derived from `core.verbs`."""
    heads = MEANINGS[verb].heads.value.lower()
    allowed = [phase.value.lower() for phase in Phase if judge(verb, phase) is Judgement.PROCEED]
    return (
        f"{verb.value.capitalize()} an instance: {summary(verb)}; it is done once {heads} and"
        f" Ready. Allowed from status {', '.join(allowed)}; refused (isError) from any other"
        " or when it is already there or on its way. With wait (default true) it answers once"
        " done, or after timeout_seconds with the instance still on its way (not an error);"
        " at once with isError when it is stalled. Needs patch on hopperinstances."
    )


def _verb_tools() -> list[Tool]:
    return [
        tool(
            f"hopper_{verb.value}_instance",
            _verb_description(verb),
            VerbArguments,
            Instance,
            "patch",
            run=_verb(verb),
            destructive=verb in DESTRUCTIVE,
            idempotent=not MEANINGS[verb].restarts,
        )
        for verb in Verb
    ]


TOOLS: tuple[Tool, ...] = (
    tool(
        "hopper_list_instances",
        "List Hopper instances in a namespace, newest first: filter by scope, status,"
        " parent_id or root_only, sort and page (skip, limit <= 100); `total` counts every"
        " match. Needs list on hopperinstances.",
        ListArguments, InstanceList, "list", run=_list, reads=True, idempotent=True,
    ),
    tool(
        "hopper_get_instance",
        "Get one Hopper instance by id: its scope, status, parent, config and times."
        " Refused (isError) when there is no such instance. Needs get on hopperinstances.",
        InstanceArguments, Instance, "get", run=_get, reads=True, idempotent=True,
    ),
    tool(
        "hopper_instance_tree",
        "The hierarchy under an instance (itself at depth 0): every node with its status,"
        " whether it is Ready and, when not, why (the Ready condition's reason and message)."
        " Needs list on hopperinstances.",
        InstanceArguments, bodies.Tree, "list", run=_tree, reads=True, idempotent=True,
    ),
    tool(
        "hopper_wait_for_instance",
        "Wait until an instance is in `status` (e.g. running) and, unless ready is false,"
        " Ready; at most timeout_seconds. Answers its status and Ready verdict once there, or"
        " when the time is up (not an error: say so and wait again); at once with isError when"
        " it is stalled (it will not get there by itself: the Stalled condition says why)."
        " Needs watch on hopperinstances.",
        WaitArguments, InstanceStatus, "watch", run=_wait, reads=True, idempotent=True,
    ),
    tool(
        "hopper_create_instance",
        "Create a Hopper instance (created, not started: start it with"
        " hopper_start_instance). scope, in any case: FEDERATED, GLOBAL, PROJECT, PERSONAL,"
        " FAMILY, EVENT or ORCHESTRATION; a parent (parent_id) must rank above it (FEDERATED"
        " > GLOBAL > PROJECT, PERSONAL, FAMILY, EVENT > ORCHESTRATION). Refused (isError)"
        " when the id is taken, the parent is missing or of the wrong rank. Needs create on"
        " hopperinstances.",
        CreateArguments, Instance, "create", run=_create,
    ),
    tool(
        "hopper_delete_instance",
        "Delete an instance: terminate it and keep the object (purge=true removes it)."
        " Refused (isError) while it has children or is running, paused or in motion:"
        " stop it first. Needs delete on hopperinstances.",
        DeleteArguments, bodies.Deleted, "delete", run=_delete, destructive=True,
        idempotent=True,
    ),
    *_verb_tools(),
)  # fmt: skip

BY_NAME: Mapping[str, Tool] = {tool.name: tool for tool in TOOLS}
