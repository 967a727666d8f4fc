"""metav1.Condition bookkeeping: a transition time moves only when the status flips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hopper_operator.api.enums import ConditionType, Reason
from hopper_operator.api.models import Condition


@dataclass(frozen=True)
class Verdict:
    """A condition as the reconciler judges it now, before timestamps."""

    type: ConditionType
    ok: bool
    reason: Reason
    message: str

    @property
    def status(self) -> str:
        return "True" if self.ok else "False"


def settle(
    verdicts: list[Verdict], previous: list[Condition], generation: int, now: datetime
) -> list[Condition]:
    """Turn verdicts into conditions, keeping lastTransitionTime where status is unchanged."""
    before = {c.type: c for c in previous}
    settled = []
    for verdict in verdicts:
        old = before.get(verdict.type.value)
        since = old.last_transition_time if old and old.status == verdict.status else now
        settled.append(
            Condition(
                type=verdict.type.value,
                status=verdict.status,
                reason=verdict.reason.value,
                message=verdict.message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return settled
