"""The load bench's own arithmetic (bench/load_bench.py): percentiles, the mix, the targets.

The bench itself is a documented command (`make bench-load`), not a test; these are the pieces
whose mistakes would print wrong numbers without failing.
"""

import collections
import http.client
import math
import os
import random

import pytest

from bench.load_bench import (
    CAPACITY,
    OURS_MIX,
    SESSIONS,
    Sample,
    StepResult,
    cpu_delta,
    markdown_table,
    mix_deck,
    parse_response,
    percentile,
    process_cpu,
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


def step(variant, users, ms, *, count=100, seconds=10.0, errors=0, kinds=("list",), phase=SESSIONS):
    samples = [Sample(kinds[i % len(kinds)], ms, i >= errors, 100) for i in range(count)]
    return StepResult(variant, users, seconds, samples, [], phase)


def test_targets_are_ratios_within_the_run():
    """Throughput against the admin's from the closed loop; latencies from the sessions."""
    small = [
        step("ours", 5, 10),
        step("ours", 20, 30),  # p95 3 × → not met
        step("ours, admin's mix", 5, 10, count=300, phase=CAPACITY),
        step("admin", 5, 10, count=100, phase=CAPACITY),  # 3 × → met
        step("ours", 20, 500, phase=CAPACITY),  # the closed loop's latencies are no target
    ]
    big = [
        step("ours", 5, 14),  # 1.4 × small → met
        step("ours", 20, 40, errors=1),  # 1.33 ×; p95 ≤ 2 × 14 → not met (40 > 28)
        step("ours, admin's mix", 5, 10, count=200, phase=CAPACITY),
        step("admin", 5, 10, count=100, phase=CAPACITY),  # 2 × → not met
    ]
    checks = targets([("S", small), ("B", big)])
    assert [(name.split(":")[0], met) for name, _, met in checks] == [
        ("S", True),  # throughput 3.00 ×
        ("S", False),  # p95 3 ×
        ("B", False),  # throughput 2 ×
        ("B", False),  # p95 2.86 ×
        ("list", True),  # 1.4 × and 1.33 ×
        ("0 errors (every step, both phases, ours and admin)", False),
    ]
    small[3] = step("admin", 5, 10, count=101, phase=CAPACITY)  # just under 3 ×
    assert targets([("S", small), ("B", big)])[0][2] is False


def test_a_cell_adds_up_its_slices():
    cell = StepResult("ours", 5, 0.0, [], [], CAPACITY)
    cell.add(2.0, [Sample("list", 10, True, 1)] * 10, ["a"], {"app": 0.1, "client": 0.01})
    cell.add(3.0, [Sample("list", 20, True, 1)] * 40, ["b"], {"app": 0.4, "client": 0.04})
    assert cell.throughput == 10.0  # 50 requests in 5 s
    assert cell.cpu_ms("app") == pytest.approx(10.0)  # 0.5 s over 50 requests
    assert cell.cpu_ms("client") == pytest.approx(1.0)
    assert math.isnan(cell.cpu_ms("db"))
    assert cell.error_notes == ["a", "b"]


def test_cpu_counts_processes_from_their_start_and_forgets_the_gone():
    assert cpu_delta({1: 5.0, 2: 1.0}, {1: 7.5, 3: 0.5}) == pytest.approx(3.0)


def test_process_cpu_reads_this_process():
    (spent,) = process_cpu([os.getpid()]).values()
    assert spent > 0
    assert process_cpu([2**22 + 12345]) == {}  # no such process


@pytest.mark.parametrize(
    ("raw", "status", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\n\r\nhello", 200, b"hello"),
        (b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", 302, b""),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            200,
            b"hello world",
        ),
    ],
)
def test_parse_response(raw, status, body):
    assert parse_response(raw)[0] == status
    assert parse_response(raw)[2] == body


def test_parse_response_keeps_the_headers_a_user_needs():
    raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: csrftoken=abc; Path=/\r\nSET-COOKIE: sessionid=x\r\n\r\n"
    assert [v for n, v in parse_response(raw)[1] if n == "set-cookie"] == [
        "csrftoken=abc; Path=/",
        "sessionid=x",
    ]


@pytest.mark.parametrize("raw", [b"", b"garbage", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"])
def test_a_broken_response_is_an_error(raw):
    with pytest.raises(http.client.HTTPException):
        parse_response(raw)


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
