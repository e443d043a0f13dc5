"""A side-by-side diff of two script versions: the changed lines with a few lines of context
around them, each run of unchanged lines between hunks folded into one "N unchanged lines" row.

Built on difflib's grouped opcodes (the hunks of a unified diff), so a one-line change in a long
script shows as that line and its neighbours, not as the whole file.

The lines are matched within a budget of work (`BoundedMatcher`): difflib's matcher is cubic in
the lines of a script made of repeated lines, and this page runs in the service's event loop.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, cast

CONTEXT: Final = 3

RowKind = Literal["equal", "replace", "delete", "insert", "fold"]


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the table. A fold row stands for `folded` unchanged lines starting at
    `left_no`/`right_no`; the others show a line on either side (None: nothing there)."""

    kind: RowKind
    left_no: int | None = None
    left: str | None = None
    right_no: int | None = None
    right: str | None = None
    folded: int = 0


@dataclass(frozen=True, slots=True)
class Diff:
    rows: list[Row]
    changed: int  # rows that differ

    @property
    def identical(self) -> bool:
        return self.changed == 0


# Steps of work a diff may take (a step: one inner-loop step of difflib's matcher, or one line
# counted or compared here). A budget of steps, not of time: the same two versions
# always give the same rows.
WORK_BUDGET: Final = 4_000_000

Block = tuple[int, int, int]  # (i, j, n): a[i:i+n] == b[j:j+n], as difflib's matching blocks


def _difflib_cost(a: Sequence[str], b: Sequence[str]) -> int:
    """A bound on the steps difflib's `get_matching_blocks` takes on a and b.

    Each `find_longest_match` walks, for every line of its range of `a`, that line's positions
    in `b`: at most W = sum over lines of (count in a) x (count in b), plus the range itself;
    there are at most 2 x min(len(a), len(b)) + 1 such calls.
    """
    in_b = Counter(b)
    repeated = sum(in_b[line] for line in a)
    return (repeated + len(a) + len(b)) * (2 * min(len(a), len(b)) + 1)


class BoundedMatcher(difflib.SequenceMatcher[str]):
    """difflib's matcher with its matching blocks found within `WORK_BUDGET`.

    The common first and last lines are matched; what lies between goes to difflib whole when
    its cost is within the budget left; otherwise it is split at the lines that occur once in
    each version, in the same order on both sides (the anchors of a "patience" diff), and each
    part between them is matched the same way. A part with no anchors, or found when the budget
    is spent, is left unmatched: shown as changed lines, never wrong, and never slow.
    """

    def __init__(self, a: Sequence[str], b: Sequence[str]) -> None:
        super().__init__(None, a, b, autojunk=False)
        self._sides = (a, b)
        self._blocks: list[difflib.Match] | None = None

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self._blocks is not None:
            return self._blocks
        a, b = self._sides
        budget = WORK_BUDGET
        blocks: list[Block] = []
        regions = [(0, len(a), 0, len(b))]
        while regions:
            alo, ahi, blo, bhi = regions.pop()
            while alo < ahi and blo < bhi and a[alo] == b[blo]:
                blocks.append((alo, blo, 1))
                alo, blo = alo + 1, blo + 1
            while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
                ahi, bhi = ahi - 1, bhi - 1
                blocks.append((ahi, bhi, 1))
            budget -= (ahi - alo) + (bhi - blo)
            if alo == ahi or blo == bhi or budget <= 0:
                continue
            part_a, part_b = a[alo:ahi], b[blo:bhi]
            cost = _difflib_cost(part_a, part_b)
            if cost <= budget:
                budget -= cost
                matcher = difflib.SequenceMatcher(None, part_a, part_b, autojunk=False)
                blocks.extend((alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks())
                continue
            anchors = _anchors(part_a, part_b)
            budget -= len(anchors) * max(1, len(anchors).bit_length())
            ends_a, ends_b = alo, blo
            for i, j in anchors:
                blocks.append((alo + i, blo + j, 1))
                regions.append((ends_a, alo + i, ends_b, blo + j))
                ends_a, ends_b = alo + i + 1, blo + j + 1
            if anchors:
                regions.append((ends_a, ahi, ends_b, bhi))
        self._blocks = _merged(blocks, len(a), len(b))
        return self._blocks


def _anchors(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """(i, j) of the lines that occur once in a and once in b, the longest run of them that is
    in the same order on both sides (longest increasing subsequence of j, by patience sorting)."""
    in_a, in_b = Counter(a), Counter(b)
    where_b = {line: j for j, line in enumerate(b) if in_b[line] == 1}
    pairs = [(i, where_b[line]) for i, line in enumerate(a)
             if in_a[line] == 1 and line in where_b]
    tails: list[int] = []  # tails[k]: the smallest j ending an increasing run of length k + 1
    tail_at: list[int] = []  # the index in `pairs` of that tail
    previous: list[int] = []  # for each pair, the index of the pair before it in its run
    for index, (_i, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_at.append(index)
        else:
            tails[k] = j
            tail_at[k] = index
        previous.append(tail_at[k - 1] if k else -1)
    run: list[tuple[int, int]] = []
    index = tail_at[-1] if tail_at else -1
    while index >= 0:
        run.append(pairs[index])
        index = previous[index]
    return run[::-1]


def _merged(blocks: list[Block], len_a: int, len_b: int) -> list[difflib.Match]:
    """Blocks in order, adjacent ones joined, with difflib's closing (len_a, len_b, 0)."""
    merged: list[Block] = []
    for i, j, n in sorted(block for block in blocks if block[2]):
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + n)
        else:
            merged.append((i, j, n))
    merged.append((len_a, len_b, 0))
    return [difflib.Match(i, j, n) for i, j, n in merged]


def _lines(tag: str, a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int
           ) -> list[Row]:
    kind = cast(RowKind, tag)  # difflib's tags: equal, replace, delete, insert
    if kind == "equal":
        return [Row("equal", i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k]) for k in range(i2 - i1)]
    rows = []
    for k in range(max(i2 - i1, j2 - j1)):
        li, rj = i1 + k, j1 + k
        rows.append(Row(kind,
                        li + 1 if li < i2 else None, a[li] if li < i2 else None,
                        rj + 1 if rj < j2 else None, b[rj] if rj < j2 else None))
    return rows


def _fold(left_from: int, right_from: int, count: int) -> list[Row]:
    """Unchanged lines left out: 0-based starts on each side."""
    return [Row("fold", left_from + 1, None, right_from + 1, None, folded=count)] if count else []


def side_by_side(left: str, right: str, *, context: int | None = CONTEXT) -> Diff:
    """The rows of a two-column diff; `context=None` shows every line (nothing folded)."""
    a, b = left.splitlines(), right.splitlines()
    matcher = BoundedMatcher(a, b)
    if context is None:
        every = [row for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                 for row in _lines(tag, a, b, i1, i2, j1, j2)]
        return Diff(every, sum(1 for r in every if r.kind != "equal"))
    if a == b:
        return Diff(_fold(0, 0, len(a)), 0)
    rows: list[Row] = []
    shown_a = shown_b = 0  # how far each side has been shown or folded
    for group in matcher.get_grouped_opcodes(context):
        _tag, i1, _i2, j1, _j2 = group[0]
        rows += _fold(shown_a, shown_b, i1 - shown_a)
        for tag, i1, i2, j1, j2 in group:
            rows += _lines(tag, a, b, i1, i2, j1, j2)
        shown_a, shown_b = group[-1][2], group[-1][4]
    changed = sum(1 for r in rows if r.kind not in ("equal", "fold"))
    rows += _fold(shown_a, shown_b, len(a) - shown_a)
    return Diff(rows, changed)
