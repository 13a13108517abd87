"""The return state machine: every legal move works, every other move is refused."""
from itertools import product

import pytest

from integration.errors import IllegalTransition
from integration.returns import TRANSITIONS, Actor, ReturnStatus, transition

S = ReturnStatus
LEGAL = {
    (S.REQUESTED, S.APPROVED), (S.REQUESTED, S.REJECTED), (S.REQUESTED, S.CANCELLED),
    (S.APPROVED, S.IN_TRANSIT), (S.APPROVED, S.RECEIVED), (S.APPROVED, S.CANCELLED),
    (S.IN_TRANSIT, S.RECEIVED),
    (S.RECEIVED, S.REFUNDED), (S.RECEIVED, S.CLOSED),
    (S.REFUNDED, S.CLOSED),
}  # fmt: skip
ALL_PAIRS = list(product(S, S))


def test_the_transition_table_is_exactly_the_designed_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize("current, target", sorted(LEGAL))
def test_a_legal_move_describes_itself_for_the_audit_trail(current, target):
    move = transition(current, target, Actor.MERCHANT, note="checked")
    assert (move.from_status, move.to_status, move.actor, move.data) == (current, target, Actor.MERCHANT, {"note": "checked"})


@pytest.mark.parametrize("current, target", [p for p in ALL_PAIRS if p not in LEGAL])
def test_every_other_move_is_refused_with_both_states_named(current, target):
    with pytest.raises(IllegalTransition) as refused:
        transition(current, target, Actor.SYSTEM)
    assert refused.value.data == {"current": current.value, "target": target.value}
    assert str(refused.value) == f"a return that is {current.value} cannot become {target.value}"


@pytest.mark.parametrize("final", [S.REJECTED, S.CANCELLED, S.CLOSED])
def test_final_states_lead_nowhere(final):
    assert TRANSITIONS[final] == frozenset()


def test_states_given_as_strings_are_accepted_and_unknown_ones_are_not():
    assert transition("requested", "approved", "customer").to_status is S.APPROVED
    with pytest.raises(ValueError):
        transition("requested", "teleported", "customer")
