"""How much of a script's result the service's event loop looks at, whatever the result holds.

A result is checked (runtime/contract.py) in the service's one event loop, which every tenant's
webhooks share, and its cost grows with the number of values in it, not with its bytes: 2 MiB
of JSON is a million list items (`[1] * 1_000_000`) or 150,000 dict keys. Pydantic checked such
a result item by item, then made a Python dict for each of its million errors: one "load
members" of a million ints held the event loop for 8 s (in the service; 35 s measured alone),
a webhook returning 150,000 unknown keys for 3 s, and the pool, its loop held, took its
workers for hung ones. So:

- `values_over` counts a result's values up to a budget, in its containers' lengths, and
  stops at the first container that passes it (a list of a million items costs one step);
- `pruned` is a small copy of an invalid result that still holds its first problems: the
  contract's own keys, and a few others and a few items of each container. The report names
  those; the count of all problems comes from the whole result's check, without describing
  each of them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def values_over(value: Any, budget: int) -> bool:
    """Whether `value` holds more than `budget` values: dict entries and list items, at every
    depth. Stops at the container that passes the budget, before reading its items."""
    left = budget
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            left -= len(item)
            if left < 0:
                return True
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            left -= len(item)
            if left < 0:
                return True
            stack.extend(v for v in item if isinstance(v, dict | list))
    return False


def pruned(value: Any, keep: int, known: Collection[str], whole: Collection[str]) -> Any:
    """A copy of `value` whose lists hold their first `keep` items and whose dicts hold every
    key in `known` and their first `keep` other keys, at every depth; the value of a key in
    `whole` is kept as it is (a check of its size must see all of it).

    Checking it finds the first problems the whole result has, in the same order: pydantic
    reports a model's fields, then its unknown keys as given, and a list's items in order."""
    if isinstance(value, list):
        return [pruned(item, keep, known, whole) for item in value[:keep]]
    if isinstance(value, dict):
        copy: dict[Any, Any] = {}
        others = 0
        for key, item in value.items():
            if key in whole:
                copy[key] = item
            elif key in known:
                copy[key] = pruned(item, keep, known, whole)
            elif others < keep:
                others += 1
                copy[key] = pruned(item, keep, known, whole)
        return copy
    return value
