"""Who calls a tool, and whether they may.

Over HTTP the server acts as its own ServiceAccount, so each call's bearer token is judged
by the REST routes' gate (TokenReview, then a SubjectAccessReview for the verb kubectl would
need). Over stdio the server acts as the kubeconfig's user: the API server judges every
request it makes, and its refusal is the caller's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hopper_operator.kube.reviews import Gate
from hopper_operator.rest.access import judge


class Identity(Protocol):
    @property
    def acts_as_caller(self) -> bool:
        """Whether a 401 or 403 from the API server is this caller's (else: our fault)."""
        ...

    async def allowed(self, verb: str, namespace: str) -> str:
        """The caller's user name once `verb` on hopperinstances in `namespace` is
        allowed; `ApiError` 401 or 403 otherwise."""
        ...


@dataclass(frozen=True)
class Bearer:
    gate: Gate
    authorization: str | None
    acts_as_caller: bool = False

    async def allowed(self, verb: str, namespace: str) -> str:
        return await judge(self.gate, self.authorization, verb, namespace)


@dataclass(frozen=True)
class Kubeconfig:
    user: str
    acts_as_caller: bool = True

    async def allowed(self, verb: str, namespace: str) -> str:
        return self.user
