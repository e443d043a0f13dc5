"""Compact JSON text through the standard library's C encoder, without its Python frames.

`JSONEncoder.encode` reaches the C encoder (`c_make_encoder`) through two Python frames
(`encode`, then `iterencode`'s one-shot branch); on the paths that encode for every call or
every row (worker messages, the store's JSON columns) those frames were a third of each
encode. `dumper(encoder)` gives a function producing exactly `encoder.encode(value)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_make_encoder: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)


def dumper(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """`encoder.encode`, through the C encoder directly when there is one. Only for an
    encoder without indent, key sorting or float subclass tricks (compact text)."""
    if _make_encoder is None or encoder.indent is not None or encoder.sort_keys:
        return encoder.encode
    make = _make_encoder
    strings = (json.encoder.encode_basestring_ascii if encoder.ensure_ascii
               else json.encoder.encode_basestring)
    key_separator, item_separator = encoder.key_separator, encoder.item_separator
    default, skipkeys, allow_nan = encoder.default, encoder.skipkeys, encoder.allow_nan

    def dumps(value: Any) -> str:
        if type(value) is str:
            return strings(value)  # (as `encode` does for a lone string)
        # A fresh marker dict per call, as `encode` uses: an encode that fails (NaN, a type
        # JSON lacks) leaves its entries behind in the dict it used.
        return "".join(make({}, default, strings, None, key_separator, item_separator,
                            False, skipkeys, allow_nan)(value, 0))

    return dumps
