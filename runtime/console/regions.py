"""The phone region the console reads a typed number in: the tenant's own, from its modules.

A number typed the national way ("030 1234567" in Germany, "8 916 123-45-67" in Russia) means
something only in a region. The console read every one as Russian: in a tenant whose modules
say DE, a client's number as its people write it found no call in the calls filter and no
contact in the search, and "Add a contact" refused it as no phone number. The modules' region
(the one their scripts' numbers are read in) is the tenant's; of several, the one most of its
modules have (ties: the first by name). Without a module: RU, the modules' own default.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from runtime.console.session import Session
from runtime.console.web import modules_shown
from runtime.store.models import Module
from runtime.typedefs import STORE

DEFAULT_REGION = "RU"


def region_of(modules: list[Module]) -> str:
    """The region most of `modules` read numbers in (DEFAULT_REGION for none)."""
    counts = Counter(m.region.upper() for m in modules if m.region)
    return counts.most_common(1)[0][0] if counts else DEFAULT_REGION


async def tenant_region(request: web.Request, session: Session) -> str:
    modules = await request.app[STORE].list_modules(session.tenant_id, modules_shown(request), 0)
    return region_of(modules)
