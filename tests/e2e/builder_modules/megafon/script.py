"""MegaFon cloud PBX, written by a builder from providers.md: a handler class whose methods a
decorator registers per command, a closure keeping the token check, storage remembering who
talked to a client last (the reply to cmd=contact), and snake_case result keys."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from voip_runtime_script import *

COMMANDS: dict[str, str] = {}
STATUS = {"success": "answered", "missed": "no_answer", "cancel": "cancel", "busy": "busy",
          "notavailable": "failed", "notallowed": "failed", "notfound": "unallocated_number"}
EVENTS = {"INCOMING": "notify_start", "ACCEPTED": "notify_answer",
          "TRANSFERRED": "notify_internal", "OUTGOING": "notify_out_start"}


def command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(method: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[name] = name
        return method
    return register


def token_checker(expected: str) -> Callable[[str | None], bool]:
    tries = 0

    def check(given: str | None) -> bool:
        nonlocal tries
        tries += 1
        return bool(given) and given == expected
    return check


class Pbx:
    def __init__(self, form: dict[str, str]) -> None:
        self.form = form
        self.way = "out" if form.get("direction", form.get("type")) == "out" else "in"

    def sides(self) -> dict[str, str]:
        operator = self.form.get(str(settings.get("memberField", "user")), "")
        client = self.form.get("phone", "")
        if self.way == "out":
            return {"src_phone": operator, "dst_phone": client}
        return {"src_phone": client, "dst_phone": operator}

    def call(self, **extra: Any) -> dict[str, Any]:
        return {"direction": self.way, "call_id": self.form.get("callid"), **self.sides(),
                **extra}

    @command("event")
    def event(self) -> dict[str, Any]:
        kind = self.form.get("type", "")
        if kind in ("COMPLETED", "CANCELLED"):
            name = "notify_out_end" if self.way == "out" else "notify_end"
            outcome = "answered" if kind == "COMPLETED" else "no_answer"
            return {"event": self.call(event=name, disposition=outcome)}
        if kind not in EVENTS:
            return {}
        return {"event": self.call(event=EVENTS[kind], disposition="unknown")}

    @command("history")
    def history(self) -> dict[str, Any]:
        status = STATUS.get(self.form.get("status", "").lower(), "unknown")
        started = datetime.strptime(self.form["start"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc)
        link = self.form.get("link")
        talk = int(self.form.get("duration") or 0) if status == "answered" else 0
        if self.form.get("user"):
            storage.set("responsible:" + self.form.get("phone", ""), self.form["user"])
        return {"call_record": self.call(
            disposition=status, duration=talk,
            call={"link": link, "started": started.isoformat()} if link else None)}

    @command("contact")
    def contact(self) -> dict[str, Any]:
        phone = self.form.get("phone", "")
        user = storage.get("responsible:" + phone, settings.get("defaultResponsible", ""))
        return {"response": HttpResponse().content(
            {"contact_name": "Client %s" % phone[-4:], "responsible": user})}

    @command("rating")
    def rating(self) -> dict[str, Any]:
        return {}


def VoipParseWebhookRequest(request: FetchRequest) -> dict[str, Any]:
    form = request.form()
    check = token_checker(str(settings["crmToken"]))
    if not check(form.get("crm_token")):
        return {"response": HttpResponse().status(403).content("invalid crm_token")}
    name = form.get("cmd", "")
    if name not in COMMANDS:
        return {}
    handler = getattr(Pbx(form), name)
    result: dict[str, Any] = handler()
    return result


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    return call_data["link"]


def VoipGetMembers() -> list[dict[str, str]]:
    return [{"id": login.strip()} for login in str(settings.get("logins", "")).split(",")
            if login.strip()]
