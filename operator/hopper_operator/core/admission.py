"""What the admission webhooks decide, on the same World the reconciler decides on.

The validating webhook refuses at apply time what the operator would otherwise report as
Stalled for good: a parent that exists and may not own this scope. The mutating webhook
stores, with the create itself, the metadata the operator's first pass would patch.
Both are judged from the warm indexes only: a parent the index has not seen yet is a
missing parent, which is allowed (GitOps applies in any order; the operator waits).
"""

from __future__ import annotations

from hopper_operator.core.plan import Metadata
from hopper_operator.core.reconcile import metadata_change
from hopper_operator.core.views import InstanceView
from hopper_operator.core.world import Lineage, World, tree_of


def refusal(world: World, *, old: InstanceView | None = None) -> str | None:
    """Why the API server should refuse this create or update, or None to let it in.

    Only a parent that is there, readable, not being deleted, and of a rank that may not
    own the child is refused, with the Stalled condition's own message. An update that
    leaves the spec alone is never refused: the operator's metadata patches (the finalizer
    removed on deletion) must go through whatever the tree looks like.
    """
    me = world.instance
    if me.spec is None or me.deleting or (old is not None and old.spec == me.spec):
        return None
    tree = tree_of(world, me.spec)
    parent = tree.parent
    if tree.lineage is not Lineage.INVALID or parent is None or parent.spec is None:
        return None
    return None if parent.deleting else tree.problem


def awaiting_ancestor(world: World) -> bool:
    """True while a parent or ancestor is named but not in the index, so the stamp would
    lack the ownerReference or the root label (the operator would then patch them).

    A tree applied at once creates children a moment after their parents, before the
    parents' watch events reach the index: worth a short wait, in the webhook.
    """
    me = world.instance
    if me.spec is None or me.spec.parent_name is None:
        return False
    tree = tree_of(world, me.spec)
    return tree.lineage is Lineage.MISSING or tree.root is None


def stamp(world: World) -> Metadata | None:
    """The metadata a create should carry: what the operator's first pass would write
    (finalizer, tree labels, ownerReference when the parent is known)."""
    me = world.instance
    if me.spec is None or me.deleting or not me.name:
        return None  # no name yet (generateName): the operator's fallback labels it later
    return metadata_change(me, me.spec, tree_of(world, me.spec), done_deleting=False)
