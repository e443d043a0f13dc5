"""Charset names a tenant or a fetched server gives, read without growing the codec registry.

Python's codec registry remembers every name it is asked for, known or not
(`encodings._cache`), for the life of the process. A charset named by a fetched response or by
a script's reply is anyone's text (a new name each time, each up to a header's size), so a name
is looked up only when it is one the `encodings` package knows.
"""

from __future__ import annotations

import codecs
import encodings
import encodings.aliases
import pkgutil
from typing import Final

# Codecs the registry holds that are no charset a body is written in.
NOT_CHARSETS: Final = frozenset(
    {"idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined"}
)


def charset_key(name: str) -> str:
    """A charset name as the codec registry compares it (case, spaces and punctuation aside)."""
    return encodings.normalize_encoding(name.lower())


# Every charset name the codec registry can resolve: the `encodings` package's aliases and its
# modules.
KNOWN_CHARSETS: Final = frozenset(
    charset_key(name)
    for name in (
        *encodings.aliases.aliases,
        *encodings.aliases.aliases.values(),
        *(module.name for module in pkgutil.iter_modules(encodings.__path__)),
    )
)


def known_charset(name: str) -> bool:
    key = charset_key(name)
    return key in KNOWN_CHARSETS or key.replace(".", "_") in KNOWN_CHARSETS


def text_codec(name: str) -> str | None:
    """Python's codec for the text encoding `name` names (`windows-1251` -> `cp1251`), or None:
    a name the registry does not know (never asked), or a codec that is no charset (`base64`,
    `rot13`: str.encode refuses them; `idna`, `undefined`)."""
    if not known_charset(name):
        return None
    try:
        codec = codecs.lookup(name).name
        "".encode(codec)
    except (LookupError, UnicodeError, ValueError):
        return None
    # The registry's own names use "-" (`unicode-escape`); NOT_CHARSETS is written with "_".
    return None if codec.replace("-", "_") in NOT_CHARSETS else codec
