"""The cases of a fuzz run, each made from its seed and index alone."""

from __future__ import annotations

import random
from collections.abc import Iterator

from tests.fuzz.case import Account, Case, TargetLimits
from tests.fuzz.params import param_case
from tests.fuzz.raw_http import raw_case

# Parameter-level cases reach the endpoints' own code; raw ones the HTTP server.
PARAM_SHARE = 0.6


def case_rng(seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512: the same on every run and platform.
    return random.Random(f"smsproxy-fuzz:{seed}:{index}")


def make_case(seed: int, index: int, account: Account, limits: TargetLimits) -> Case:
    rng = case_rng(seed, index)
    if rng.random() < PARAM_SHARE:
        return param_case(rng, seed, index, account, limits)
    return raw_case(rng, seed, index, account, limits)


def make_cases(
    seed: int, count: int, account: Account, limits: TargetLimits, first: int = 0
) -> Iterator[Case]:
    for index in range(first, first + count):
        yield make_case(seed, index, account, limits)
