"""Source locations for the nodes the compile policy writes, in time linear in the script.

RestrictedPython's transformer gives every node it writes (`a.b` becomes
`_getattr_(a, "b")`) the location of the node it replaces through its module-level
`copy_locations`, which ends with `ast.fix_missing_locations(new_node)`: a walk of the whole
subtree under the new node, the script's code already rewritten below it included. Each level
of a nested expression (`a.b.c.d`, `x[1][2][3]`, `f(*g(*h(*a)))`) is rewritten by its own call,
so a chain d levels deep was walked d times over: d² nodes. A 64 KiB script of attribute chains
50 deep took seconds of CPU to compile, past the call's CPU limit, so `check` refused it and
each new worker's first call spent its CPU budget compiling.

`copy_locations` here gives the new node the old node's location and every part of it that has
no location yet the location of its nearest located ancestor, as `fix_missing_locations` does,
but does not walk into a part that already has one: such a part came from the parser or from an
earlier `copy_locations`, and everything under it has a location already. `install()` puts it
in RestrictedPython's module, where the transformer's own methods look the name up.
"""

from __future__ import annotations

import ast
from typing import Final

import RestrictedPython.transformer

LOCATION_FIELDS: Final = ("lineno", "end_lineno", "col_offset", "end_col_offset")


def copy_locations(new_node: ast.AST, old_node: ast.AST) -> None:
    """`new_node` at `old_node`'s place in the source, with its new parts located there too."""
    for field in LOCATION_FIELDS:
        setattr(new_node, field, getattr(old_node, field))
    locate_new_parts(new_node)


def locate_new_parts(node: ast.AST) -> None:
    """Give each part under `node` that has no location its nearest located ancestor's, without
    entering a part that has one (node itself must be located)."""
    pending = [(child, node) for child in ast.iter_child_nodes(node)]
    while pending:
        part, located_above = pending.pop()
        if "lineno" in part._attributes:
            if hasattr(part, "lineno"):
                continue  # located, and so is everything under it
            for field in LOCATION_FIELDS:
                setattr(part, field, getattr(located_above, field))
            located_above = part
        # A part without location fields (arguments, a comprehension's clause) passes its
        # located ancestor on to its children.
        pending.extend((child, located_above) for child in ast.iter_child_nodes(part))


def install() -> None:
    """Make RestrictedPython's transformer use `copy_locations` (idempotent)."""
    RestrictedPython.transformer.copy_locations = copy_locations
