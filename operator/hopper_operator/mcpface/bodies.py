"""The bodies tools answer with beyond the REST API's own: the tree with each node's Ready
verdict, and what a delete did. Built from the REST bodies, never beside them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hopper_operator.rest import mapping
from hopper_operator.rest.schemas import Hierarchy, Instance, Node, Status


class TreeNode(BaseModel):
    instance: Instance
    ready: bool
    reason: str | None = Field(description="The Ready condition's reason: why it is not Ready.")
    message: str | None
    children: list[TreeNode]
    depth: int


class Tree(BaseModel):
    root: TreeNode
    total_instances: int


class Deleted(BaseModel):
    id: str
    purged: bool = Field(description="True: the object is gone; false: terminated and kept.")
    status: Status | None = Field(description="What remains, when kept.")


def tree(hierarchy: Hierarchy, objects: list[mapping.Object]) -> Tree:
    """The REST hierarchy, each node with its Ready verdict read from its object."""
    by_id = {obj["metadata"]["name"]: obj for obj in objects}

    def node(at: Node) -> TreeNode:
        found = by_id.get(at.instance.id)
        verdict = mapping.status_body(found) if found is not None else None
        return TreeNode(
            instance=at.instance,
            ready=bool(verdict and verdict.ready),
            reason=verdict.reason if verdict else None,
            message=verdict.message if verdict else None,
            children=[node(child) for child in at.children],
            depth=at.depth,
        )

    return Tree(root=node(hierarchy.root), total_instances=hierarchy.total_instances)
