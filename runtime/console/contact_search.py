"""Finding contacts by what a person remembers of them: a part of the name (any case) or of a
number (any spelling). The contacts page's search box (contacts_list.py) and the contact page's
"merge another contact" search (operator_views.contact_context) read the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """What one search box's text looks for: a part of a name, a part of a number's digits,
    and the number itself when the text is one in some spelling ("8 (916) 123-45-67")."""

    words: str
    digits: str
    number: str | None

    @classmethod
    def of(cls, text: str, region: str = "RU") -> ContactSearch:
        words = " ".join(text.split())[:MAX_QUERY]
        digits = re.sub(r"\D", "", words)
        return cls(words, digits if len(digits) >= MIN_DIGITS else "",
                   normalize_phone(words, region) if digits else None)

    def matches(self, contact: Contact) -> bool:
        """As the store's search_contacts matches (for lists read otherwise)."""
        if self.words and self.words.lower() in contact.name.lower():
            return True
        for phone in contact.phones:
            if self.number is not None and phone.normalized == self.number:
                return True
            if self.digits and (self.digits in (phone.normalized or "")
                                or self.digits in phone.raw):
                return True
        return False


async def search_contacts(request: web.Request, session: Session, search: ContactSearch,
                          limit: int, offset: int) -> list[Contact]:
    """The tenant's contacts matching `search`, newest first (a tenant admin's reach)."""
    return await request.app[STORE].search_contacts(
        session.tenant_id, search.words, search.digits, search.number, limit, offset)
