"""The versions diff: changed lines with three lines of context, unchanged runs folded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime.console.diffs import Row, side_by_side

ROOT = Path(__file__).resolve().parents[2]

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


def _sides(rows: list[Row]) -> tuple[list[str], list[str]]:
    return ([r.left for r in rows if r.left is not None],
            [r.right for r in rows if r.right is not None])


# Two 64 KiB versions made of repeated lines: difflib's matcher alone is cubic in their lines
# (a thousand such lines took it seconds, these would take it days), and the versions page
# computes its diff in the service's event loop, so one page view stopped the whole service.
# Run in a child process, so that a diff that never ends fails this test instead of hanging it.
_REPEATED = """
import json, sys
from runtime.console.diffs import side_by_side
left = "x\\n" * 32768
right = "".join("x\\n" if n % 2 else "y\\n" for n in range(32768))
diff = side_by_side(left, right, context=None)
print(json.dumps([diff.changed, [[r.left, r.right] for r in diff.rows]]))
"""


def test_versions_made_of_repeated_lines_are_compared_in_bounded_work() -> None:
    done = subprocess.run([sys.executable, "-c", _REPEATED], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=True)
    changed, pairs = json.loads(done.stdout)
    rows = [Row("equal", None, left, None, right) for left, right in pairs]
    assert _sides(rows) == (["x"] * 32768, ["x" if n % 2 else "y" for n in range(32768)])
    assert 0 < changed <= 32768 * 2


def test_a_long_script_edited_at_both_ends_shows_only_those_lines() -> None:
    script = "".join(f"def f{n}():\n    return {n}\n\n" for n in range(2000))
    edited = "# changed\n" + script.replace("return 1999\n", "return -1\n")
    diff = side_by_side(script, edited)
    assert diff.changed == 2
    assert [r for r in diff.rows if r.kind not in ("equal", "fold")] == [
        Row("insert", None, None, 1, "# changed"),
        Row("replace", 5999, "    return 1999", 6000, "    return -1"),
    ]
    every = side_by_side(script, edited, context=None)
    assert _sides(every.rows) == (script.splitlines(), edited.splitlines())
