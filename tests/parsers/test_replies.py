"""Replies and forwards in the style of each mail client (tests/parsers/replies/): the tuned
set must read right case by case; the held-out set is scored, and its figure printed."""

from __future__ import annotations

import pytest

from tests.parsers.replies import cases, clean_ratio, differences


@pytest.mark.parametrize("case", cases("dev"), ids=lambda case: case.name)
def test_each_tuned_case_reads_right(case: object) -> None:
    assert differences(case) == []  # type: ignore[arg-type]


def test_the_held_out_cases_read_at_least_nine_in_ten_right() -> None:
    right, total, wrong = clean_ratio("heldout")

    print(f"held out: {right}/{total} clean")
    assert total >= 30
    assert right / total >= 0.9, wrong
