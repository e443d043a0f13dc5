"""The console's one "type the name to confirm" step before deleting a user, a module or a
contact: the page that says what goes (confirm_delete.html), and the check of the name typed
into it when it is posted. A mistyped name shows the page again (422) and deletes nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from runtime.console.session import Session
from runtime.console.web import form_of, render

NAME_FIELD = "confirm_name"


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a confirmation page is about."""

    what: str  # "user", "module", "contact": the page's and the error's words
    name: str  # to be typed again, exactly
    action: str  # where the form posts
    back: str  # where Cancel goes
    consequences: Sequence[str]  # what goes and what stays, one line each
    pronoun: str = "it"  # "delete it", "delete them"


def confirmation(request: web.Request, deletion: Deletion, *, error: str | None = None
                 ) -> web.Response:
    return render(request, "confirm_delete.html", {
        "what": deletion.what, "name": deletion.name, "action": deletion.action,
        "back": deletion.back, "consequences": list(deletion.consequences), "error": error,
    }, status=422 if error else 200)


def as_seen(name: str) -> str:
    """A name as a person reads it on the page and can type it into a one-line field: line
    breaks and tabs (which the API lets a module or contact name hold, and which a text field
    cannot take) and runs of spaces are one space, invisible formatting characters (a
    zero-width space) are nothing, and composed and decomposed letters are the same."""
    visible = "".join(c for c in unicodedata.normalize("NFC", name)
                      if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())


async def refusal(request: web.Request, session: Session, deletion: Deletion
                  ) -> web.Response | None:
    """None when the posted form names what is to be deleted; else the page again, saying
    why nothing was deleted."""
    form = await form_of(request, session)
    typed = form.get(NAME_FIELD, "")
    if isinstance(typed, str) and as_seen(typed) == as_seen(deletion.name):
        return None
    return confirmation(request, deletion, error=f"Type the {deletion.what}'s name exactly as "
                                                 f"shown to delete {deletion.pronoun}.")
