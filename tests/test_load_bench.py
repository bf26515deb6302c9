"""The load bench's own arithmetic (bench/load_bench.py): percentiles, the mix, the targets.

The bench itself is a documented command (`make bench-load`), not a test; these are the pieces
whose mistakes would print wrong numbers without failing.
"""

import collections
import math
import random

import pytest

from bench.load_bench import (
    OURS_MIX,
    Sample,
    StepResult,
    markdown_table,
    mix_deck,
    percentile,
    sibling_url,
    targets,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 95, 3.85),  # numpy.percentile([1, 2, 3, 4], 95)
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 100, 4),
        ([7], 99, 7),
        ([10, 1, 5], 50, 5),  # unsorted input
        (list(range(1, 101)), 99, 99.01),
    ],
)
def test_percentile_interpolates_between_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_nan():
    assert math.isnan(percentile([], 50))


def test_mix_deck_has_the_exact_proportions_in_a_user_order():
    deck = mix_deck(OURS_MIX, random.Random(1))
    assert collections.Counter(deck) == OURS_MIX
    assert deck != mix_deck(OURS_MIX, random.Random(2))


def test_markdown_table_aligns_numbers_right():
    assert markdown_table(["kind", "ms"], [["list", 1.5]]) == "| kind | ms |\n|---|---:|\n| list | 1.5 |"


def step(variant, users, ms, *, count=100, seconds=10.0, errors=0, kinds=("list",)):
    samples = [Sample(kinds[i % len(kinds)], ms, i >= errors, 100) for i in range(count)]
    return StepResult(variant, users, seconds, samples, [])


def test_targets_are_ratios_within_the_run():
    small = [
        step("ours", 5, 10),
        step("ours", 20, 30),  # p95 3 × → not met
        step("ours, admin's mix", 5, 10, count=300),
        step("admin", 5, 10, count=100),  # 3 × → met
    ]
    big = [
        step("ours", 5, 14),  # 1.4 × small → met
        step("ours", 20, 40, errors=1),  # 1.33 ×; p95 ≤ 2 × 14 → not met (40 > 28)
        step("ours, admin's mix", 5, 10, count=200),
        step("admin", 5, 10, count=100),  # 2 × → not met
    ]
    checks = targets([("S", small), ("B", big)])
    assert [(name.split(":")[0], met) for name, _, met in checks] == [
        ("S", True),  # throughput 3.00 ×
        ("S", False),  # p95 3 ×
        ("B", False),  # throughput 2 ×
        ("B", False),  # p95 2.86 ×
        ("list", True),  # 1.4 × and 1.33 ×
        ("0 errors (every step, ours and admin)", False),
    ]
    small[3] = step("admin", 5, 10, count=101)  # just under 3 ×
    assert targets([("S", small), ("B", big)])[0][2] is False


def test_scale_target_fails_when_one_kind_grows_past_one_and_a_half():
    small = [step("ours", 5, 10, kinds=("list", "edit"))]
    big = [step("ours", 5, 10, kinds=("list", "edit"))]
    big[0].samples = [Sample(s.kind, 16 if s.kind == "edit" else 10, True, 1) for s in big[0].samples]
    by_kind = {name.split(":")[0]: met for name, _, met in targets([("S", small), ("B", big)])}
    assert by_kind["list"] is True
    assert by_kind["edit"] is False


def test_the_small_database_is_named_after_the_big_one():
    assert (
        sibling_url("postgres://postgres@127.0.0.1:5432/bench_load", "_small")
        == "postgres://postgres@127.0.0.1:5432/bench_load_small"
    )
