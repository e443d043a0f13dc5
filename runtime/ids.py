"""Identifiers and secrets: record ids, webhook/API/user tokens, and how tokens are hashed.

Record ids are a short type prefix and 26 characters of Crockford base32 over 128 bits: 48 bits
of milliseconds since the epoch, then 80 random bits (the ULID layout), monotonic within a
process. The time prefix keeps
ids roughly in creation order, so primary-key b-trees stay append-mostly and `ORDER BY id`
is a sensible tie-breaker; the random part makes ids unguessable enough that an id is never
a credential, but also never enumerable.

Secrets (API keys, user tokens, webhook tokens) are 32 random bytes from `secrets`, urlsafe
base64, with a readable kind prefix (`vrk_`, `vut_`). We store only `sha256(secret)`:
- A slow password hash (bcrypt, scrypt, argon2) exists to make guessing *low-entropy* secrets
  expensive. Our secrets carry 256 bits of entropy, so inverting a plain sha256 is as hopeless
  as guessing the secret itself; slowness would buy nothing.
- A deterministic, unsalted hash lets every request find its key with one indexed equality
  lookup (`WHERE key_hash = ?`); a salted KDF would force a scan or a second identifier.
The visible prefix (`vrk_AbCdEfGh`) is stored in clear so a person can tell keys apart in a
listing; it is 8 random characters out of 43, far too few to help an attacker.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Two Crockford digits per 10 bits: an id is 13 table lookups (base64.b32encode is Python code
# in 3.11 and cost several microseconds per id on the webhook path), written out in one
# f-string in `new_id` (a list built and joined cost a third more).
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)

# Record id prefixes, one place so a glance at an id says what it is.
TENANT = "ten"
API_KEY = "key"
MODULE = "mod"
VERSION = "ver"
USER = "usr"
USER_TOKEN = "utk"
CONTACT = "con"
CALL = "call"
CALL_EVENT = "cev"
ACTIVITY = "act"
NOTIFICATION = "ntf"
EXECUTION = "exe"

API_KEY_PREFIX = "vrk_"
USER_TOKEN_PREFIX = "vut_"
# How many characters of a secret (after its kind prefix) are kept in clear for display.
VISIBLE_CHARS = 8


_last_lock = threading.Lock()
_last_value = 0

# The ids' random bits come from the OS in blocks (409 ids' worth per getrandom() call, not
# one call each: three ids per webhook made it a visible share of the event loop's time).
# Ids are no credential (see above), so holding the next bits in memory gives nothing away.
_RANDOM_BYTES = 10  # 80 bits
_RANDOM_BLOCK = _RANDOM_BYTES * 409
_random = b""
_random_at = 0


def _forget_random() -> None:
    """A forked child draws its own bits: a copy of the parent's block would repeat its ids."""
    global _random, _random_at
    _random, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def new_id(prefix: str) -> str:
    """A new record id such as `call_01j9x...`: time-ordered prefix, 80 random bits.

    Monotonic within the process (ULID's monotonic variant): an id made in the same
    millisecond as the previous one is that one plus one when its random bits are not
    greater, so creation order is id order and listings ordered by id are stable; a clock
    that steps back leaves ids at the last one's millisecond until it catches up. Across
    processes, ids order by millisecond only.
    """
    global _last_value, _random, _random_at
    with _last_lock:
        at = _random_at
        if at + _RANDOM_BYTES > len(_random):
            _random, at = os.urandom(_RANDOM_BLOCK), 0
        _random_at = at + _RANDOM_BYTES
        random_bits = int.from_bytes(_random[at:at + _RANDOM_BYTES])
        # Never before the last id's millisecond: a clock stepped back (NTP, a VM resumed)
        # would otherwise make ids that sort before the ones already made.
        millis = max(time.time_ns() // 1_000_000, _last_value >> 80)
        value = millis << 80 | random_bits
        if value <= _last_value:
            value = _last_value + 1
        _last_value = value
    # 128 bits -> 26 base32 digits (the last one carries 3 bits and 2 of padding): 13 pairs
    # of digits, 10 bits each, most significant first.
    v = value << 2
    p = _PAIRS
    return (f"{prefix}_{p[v >> 120]}{p[v >> 110 & 1023]}{p[v >> 100 & 1023]}"
            f"{p[v >> 90 & 1023]}{p[v >> 80 & 1023]}{p[v >> 70 & 1023]}{p[v >> 60 & 1023]}"
            f"{p[v >> 50 & 1023]}{p[v >> 40 & 1023]}{p[v >> 30 & 1023]}{p[v >> 20 & 1023]}"
            f"{p[v >> 10 & 1023]}{p[v & 1023]}")


def record_id_pattern(prefix: str) -> str:
    """The regular expression of a record id of this kind (`new_id(prefix)`'s form), for the
    API's document and for `is_record_id`."""
    return f"^{prefix}_[0-9a-hjkmnp-tv-z]{{26}}$"


def optional_id_pattern(prefix: str) -> str:
    """The same for a query parameter where empty is as absent
    (runtime/query_params.query_record_id)."""
    return f"^$|{record_id_pattern(prefix)}"


def is_record_id(prefix: str, text: str) -> bool:
    """Whether `text` is spelled as a record id of this kind, known or not: a query parameter
    naming a record tells a malformed value from an unknown one."""
    return re.fullmatch(record_id_pattern(prefix), text) is not None


def new_secret(kind_prefix: str = "") -> str:
    """A fresh 256-bit secret, urlsafe, with an optional readable kind prefix."""
    return kind_prefix + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return new_secret(API_KEY_PREFIX)


def new_user_token() -> str:
    return new_secret(USER_TOKEN_PREFIX)


def new_webhook_token() -> str:
    # No kind prefix: it appears in the provider's configuration as part of a URL.
    return new_secret()


def visible_prefix(secret: str) -> str:
    """The part of a secret shown in listings (kind prefix + a few characters)."""
    kind, sep, rest = secret.partition("_")
    if sep and len(kind) <= 4:
        return f"{kind}_{rest[:VISIBLE_CHARS]}"
    return secret[:VISIBLE_CHARS]


def hash_secret(secret: str) -> str:
    """sha256 hex of a secret; see the module docstring for why a plain hash is right here."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison, for callers that hold a hash from elsewhere."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def sha256_text(text: str) -> str:
    """sha256 hex of a text (script sources are identified by it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
