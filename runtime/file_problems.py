"""Why a file the command line was given could not be read, in one line.

A command's refusal is one line on stderr (`voip-runtime: cannot read FILE: why`): PyYAML's
own message spans five lines with a caret drawing, a file that is not UTF-8 text escaped as a
traceback, and `[Errno 2] No such file or directory: 'FILE'` said the file's name twice.
"""

from __future__ import annotations

import json

import yaml


def file_problem(error: Exception) -> str:
    """What was wrong, without the file's name (the caller says which file)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower() if error.strerror[:1].isupper() else error.strerror
    if isinstance(error, UnicodeDecodeError):
        return (f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
                f"{error.start})")
    if isinstance(error, yaml.MarkedYAMLError):
        return yaml_problem(error)
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    if isinstance(error, ValueError) and not isinstance(error, yaml.YAMLError):
        # PyYAML's date constructor lets datetime's own refusal through (2025-13-45).
        return f"a value is not what YAML reads it as: {' '.join(str(error).split())}"
    return " ".join(str(error).split())


def yaml_problem(error: yaml.MarkedYAMLError) -> str:
    """`line 2, column 1: expected ',' or ']', but got '<stream end>' (in a flow sequence
    from line 1, column 7)`: where, what, and what it was inside of."""
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    what = error.problem or error.context or "not valid YAML"
    inside = ""
    if (error.context and error.problem and error.context_mark is not None
            and (mark is None or (error.context_mark.line, error.context_mark.column)
                 != (mark.line, mark.column))):
        context = error.context.removeprefix("while ")
        inside = (f" ({context}, from line {error.context_mark.line + 1}, "
                  f"column {error.context_mark.column + 1})")
    return " ".join(f"{where}{what}{inside}".split())
