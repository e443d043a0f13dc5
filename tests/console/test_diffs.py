"""The versions diff: changed lines with three lines of context, unchanged runs folded."""

from __future__ import annotations

from runtime.console.diffs import Row, side_by_side

LONG = "\n".join(f"line {n}" for n in range(1, 41)) + "\n"


def test_a_one_line_change_shows_that_line_and_its_context() -> None:
    diff = side_by_side(LONG, LONG.replace("line 20\n", "line twenty\n"))
    assert diff.changed == 1
    assert diff.rows[0] == Row("fold", 1, None, 1, None, folded=16)
    shown = [r for r in diff.rows if r.kind != "fold"]
    assert [r.left_no for r in shown] == [17, 18, 19, 20, 21, 22, 23]
    assert shown[3] == Row("replace", 20, "line 20", 20, "line twenty")
    assert diff.rows[-1] == Row("fold", 24, None, 24, None, folded=17)


def test_folds_count_on_both_sides_after_an_insertion() -> None:
    changed = LONG.replace("line 5\n", "line 5\nnew a\nnew b\n").replace("line 35\n", "LINE 35\n")
    diff = side_by_side(LONG, changed)
    assert diff.changed == 3
    folds = [r for r in diff.rows if r.kind == "fold"]
    # Between the hunks: left lines 9..31, right lines 11..33 (two lines were inserted).
    assert folds == [Row("fold", 1, None, 1, None, folded=2),
                     Row("fold", 9, None, 11, None, folded=23),
                     Row("fold", 39, None, 41, None, folded=2)]
    inserted = [r for r in diff.rows if r.kind == "insert"]
    assert [(r.left_no, r.right_no, r.right) for r in inserted] == \
        [(None, 6, "new a"), (None, 7, "new b")]


def test_whole_file_and_identical_and_empty() -> None:
    every = side_by_side(LONG, LONG.replace("line 20\n", "x\n"), context=None)
    assert len(every.rows) == 40 and not any(r.kind == "fold" for r in every.rows)
    same = side_by_side(LONG, LONG)
    assert same.identical and same.rows == [Row("fold", 1, None, 1, None, folded=40)]
    first = side_by_side("", "def f():\n    pass\n")
    assert [r.kind for r in first.rows] == ["insert", "insert"] and first.changed == 2
