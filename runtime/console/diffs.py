"""A side-by-side diff of two script versions: the changed lines with a few lines of context
around them, each run of unchanged lines between hunks folded into one "N unchanged lines" row.

Built on difflib's grouped opcodes (the hunks of a unified diff), so a one-line change in a long
script shows as that line and its neighbours, not as the whole file.
"""

from __future__ import annotations

import difflib
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
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
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
