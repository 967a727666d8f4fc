"""The scope tree: ranks and what makes a parent acceptable."""

from __future__ import annotations

from hopper_operator.api.enums import Scope

RANK: dict[Scope, int] = {
    Scope.FEDERATED: 0,
    Scope.GLOBAL: 1,
    Scope.PROJECT: 2,
    Scope.PERSONAL: 2,
    Scope.FAMILY: 2,
    Scope.EVENT: 2,
    Scope.ORCHESTRATION: 3,
}


def parent_scope_error(child: Scope, parent: Scope) -> str | None:
    """Why `parent` cannot hold `child`, or None when it can.

    Ranks strictly decrease towards the root, so no chain of parents can loop.
    """
    if RANK[parent] < RANK[child]:
        return None
    return (
        f"a {child.value} instance (rank {RANK[child]}) needs a parent of a smaller rank, "
        f"but its parent is {parent.value} (rank {RANK[parent]})"
    )
