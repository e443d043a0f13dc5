"""Finding contacts by what a person remembers of them: a part of the name (any case) or of a
number (any spelling). The contacts page's search box (contacts_list.py) and the contact page's
"merge another contact" search (operator_views.contact_context) read the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from aiohttp import web

from runtime.console.session import Session
from runtime.phones import normalize_phone
from runtime.store.models import Contact
from runtime.typedefs import STORE

# Digits a search needs before it matches numbers by a part of them ("12" is in most numbers).
MIN_DIGITS = 3
MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class ContactSearch:
    """What one search box's text looks for: a part of a name; a part of a number (its digits,
    and for digits dialled the national way, "8 916 123" in Russia, the same in the
    international form the store keeps, "7916123"); and the number itself when the text is
    one in some spelling ("8 (916) 123-45-67")."""

    words: str
    digits: tuple[str, ...]
    number: str | None

    @classmethod
    def of(cls, text: str, region: str = "RU") -> ContactSearch:
        words = " ".join(text.split())[:MAX_QUERY]
        digits = re.sub(r"[^0-9]", "", words)
        if len(digits) < MIN_DIGITS:
            return cls(words, (), None)
        variants = [digits]
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
        prefix = metadata.national_prefix if metadata is not None else None
        if metadata is not None and prefix and not words.startswith("+") \
                and digits.startswith(prefix) and len(digits) > len(prefix):
            variants.append(f"{metadata.country_code}{digits[len(prefix):]}")
        return cls(words, tuple(variants), normalize_phone(words, region))

    def matches(self, contact: Contact) -> bool:
        """As the store's search_contacts matches (for lists read otherwise)."""
        if self.words and self.words.lower() in contact.name.lower():
            return True
        for phone in contact.phones:
            if self.number is not None and phone.normalized == self.number:
                return True
            if any(d in (phone.normalized or "") or d in phone.raw for d in self.digits):
                return True
        return False


async def search_contacts(request: web.Request, session: Session, search: ContactSearch,
                          limit: int, offset: int) -> list[Contact]:
    """The tenant's contacts matching `search`, newest first (a tenant admin's reach)."""
    return await request.app[STORE].search_contacts(
        session.tenant_id, search.words, search.digits, search.number, limit, offset)
