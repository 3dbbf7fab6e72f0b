"""Nova's host_subset_size: which candidate a boot tries to claim first."""

from __future__ import annotations

import random
from typing import Any, cast

from vfplane.domain.scheduling import Candidate
from vfplane.service.servers import claim_order

BEST_FIRST = cast(list[Candidate], [f"host-{n}" for n in range(5)])  # order is all that counts


def test_a_subset_of_one_keeps_the_weighers_order() -> None:
    assert claim_order(BEST_FIRST, 1) == BEST_FIRST


def test_the_first_is_drawn_from_the_best_n_and_the_rest_follow_best_first() -> None:
    random.seed(7)
    firsts: set[Any] = set()
    for _ in range(200):
        order = claim_order(BEST_FIRST, 3)
        firsts.add(order[0])
        assert sorted(order) == sorted(BEST_FIRST)  # every candidate is still tried once
        assert order[1:] == [c for c in BEST_FIRST if c != order[0]]
    assert firsts == set(BEST_FIRST[:3])


def test_a_subset_larger_than_the_candidates_draws_from_all() -> None:
    random.seed(3)
    assert {claim_order(BEST_FIRST[:2], 10)[0] for _ in range(100)} == set(BEST_FIRST[:2])
