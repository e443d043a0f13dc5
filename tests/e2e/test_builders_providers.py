"""Zadarma, Sipuni and MegaFon modules written by a builder from providers.md alone
(tests/e2e/builder_modules/), driven through the real service on SQLite and PostgreSQL in
whole call sequences as each provider sends them: group ringing, answer, transfer, end,
missed calls, recordings reported apart from the end; then what the service stored and who
it told (contract §5)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving
from tests.e2e.test_provider_zadarma import API_KEY, API_SECRET, FakeZadarma, signature

__all__ = ["backend_service"]  # the fixture, imported for pytest
CLIENT = "79161234567"
COMPANY = "74951112233"
START = "2025-03-04 10:15:02"


class Tenant(ProviderTenant):
    async def notes(self, operator: str) -> list[str]:
        response = await self.service.client.get(
            f"/api/v1/notifications?token={self.tokens[operator]}")
        assert response.status == 200
        return [n["kind"] for n in (await response.json())["notifications"]]

    async def history(self, provider_id: str) -> list[tuple[str, str]]:
        call = await self.call(provider_id)
        return [(e["kind"], e["effect"]) for e in call["events"]]

    async def contacts(self) -> list[dict[str, Any]]:
        return list((await self.api.ok("GET", "/api/v1/contacts"))["contacts"])


# --- Zadarma ----------------------------------------------------------------------------------


class Zadarma(Tenant):
    async def notify(self, **fields: str) -> ClientResponse:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if fields["event"] not in ("NOTIFY_INTERNAL", "NOTIFY_ANSWER"):
            headers["Signature"] = signature(fields)
        return await self.service.client.post(self.hook_path, data=urlencode(fields),
                                              headers=headers)

    async def ok(self, **fields: str) -> None:
        response = await self.notify(**fields)
        assert response.status == 200, await response.text()


def zd_in(event: str, call_id: str = "in_1", caller: str = CLIENT, **extra: str
          ) -> dict[str, str]:
    return {"event": event, "call_start": START, "pbx_call_id": call_id, "caller_id": caller,
            "called_did": COMPANY, **extra}


def zd_end(call_id: str = "in_1", caller: str = CLIENT, *, internal: str, disposition: str,
           duration: str, rec: str = "") -> dict[str, str]:
    return zd_in("NOTIFY_END", call_id, caller, internal=internal, duration=duration,
                 disposition=disposition, status_code="16", is_recorded="1" if rec else "0",
                 call_id_with_rec=rec)


async def zadarma(service: Service, fake: FakeZadarma) -> Zadarma:
    return await provider_tenant(Zadarma, service, {
        "name": "zadarma", "region": "RU",
        "settings": {"apiBaseUrl": fake.base, "apiKey": API_KEY, "apiSecret": API_SECRET},
        "secrets": ["apiKey", "apiSecret"], "allowlist": ["127.0.0.1"],
    }, builder_script("zadarma"), {"op": "operator", "anna": "anna", "boris": "boris"},
        {"101": "op", "102": "anna", "103": "boris"})


async def test_zadarma_group_ring_answer_transfer_and_a_late_recording(
        backend_service: Service) -> None:
    fake = FakeZadarma()
    async with serving(fake.app()) as fake.base:
        zd = await zadarma(backend_service, fake)
        contact = await zd.api.ok("POST", "/api/v1/contacts",
                                  {"name": "Ivan", "phones": ["+7 916 123-45-67"]}, status=201)
        await zd.ok(**zd_in("NOTIFY_START"))
        await zd.ok(**zd_in("NOTIFY_INTERNAL", internal="101"))
        await zd.ok(**zd_in("NOTIFY_INTERNAL", internal="102"))
        await zd.ok(**zd_in("NOTIFY_ANSWER", internal="101", destination="101"))
        await zd.ok(**zd_in("NOTIFY_INTERNAL", internal="103"))  # the transfer
        await zd.ok(**zd_in("NOTIFY_ANSWER", internal="103", destination="103"))
        await zd.ok(**zd_end(internal="103", disposition="answered", duration="95"))
        await zd.ok(event="NOTIFY_RECORD", pbx_call_id="in_1", call_id_with_rec="1709.55")

        call = await zd.call("in_1")
        assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered",
                                                                          95)
        assert (call["answered_phone"], call["answered_user_id"]) == (
            "103", zd.users["boris"]["id"])
        assert call["contact_id"] == contact["id"] and call["has_record"] is True
        assert await zd.history("in_1") == [
            ("notify_start", "applied"), ("notify_internal", "applied"),
            ("notify_internal", "applied"), ("notify_answer", "applied"),
            ("notify_internal", "applied"), ("notify_answer", "applied"),
            ("notify_end", "applied"), ("call_record", "applied"), ("call_record", "applied")]
        assert await zd.notes("op") == ["ringing", "answered", "ended"]
        assert await zd.notes("anna") == ["ringing", "ended"]
        assert await zd.notes("boris") == ["ringing", "answered", "ended"]
        [entry] = (await zd.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))[
            "activity"]
        assert entry["data"]["call"] == {"call_id": "1709.55", "pbx_call_id": "in_1"}
        assert (entry["data"]["duration"], entry["data"]["missed"]) == (95, False)

        # Boris answered: his token plays it, through the module's signed API call.
        played = await zd.service.client.get(
            f"/api/v1/calls/{call['id']}/recording?token={zd.tokens['boris']}",
            allow_redirects=False)
        assert played.status == 302
        assert played.headers["Location"] == f"{fake.base}/rec/1709.55.mp3?expires=1"
        assert [(r["path"], r["auth"]) for r in fake.requests] == [
            ("/v1/pbx/record/request/", True)]


async def test_zadarma_missed_call_makes_a_contact_and_a_retried_end_changes_nothing(
        backend_service: Service) -> None:
    fake = FakeZadarma()
    async with serving(fake.app()) as fake.base:
        zd = await zadarma(backend_service, fake)
        caller = "+7 (903) 555-00-11"
        await zd.ok(**zd_in("NOTIFY_START", "in_2", caller))
        await zd.ok(**zd_in("NOTIFY_INTERNAL", "in_2", caller, internal="101"))
        await zd.ok(**zd_in("NOTIFY_INTERNAL", "in_2", caller, internal="102"))
        end = zd_end("in_2", caller, internal="", disposition="no answer", duration="0")
        await zd.ok(**end)
        await zd.ok(**end)  # Zadarma's retry
        call = await zd.call("in_2")
        assert (call["state"], call["disposition"], call["answered_phone"]) == (
            "ended", "no_answer", None)
        [contact] = await zd.contacts()
        assert contact["name"] == caller
        assert contact["phones"] == [{"raw": caller, "normalized": "+79035550011"}]
        assert call["contact_id"] == contact["id"]
        assert call["activity"]["data"]["missed"] is True
        assert await zd.history("in_2") == [
            ("notify_start", "applied"), ("notify_internal", "applied"),
            ("notify_internal", "applied"), ("notify_end", "applied"),
            ("call_record", "applied"), ("notify_end", "repeat"), ("call_record", "repeat")]
        assert await zd.notes("op") == ["ringing", "ended"]
        assert await zd.notes("anna") == ["ringing", "ended"]
        assert await zd.notes("boris") == []


async def test_zadarma_outgoing_call_with_its_recording_before_the_end(
        backend_service: Service) -> None:
    fake = FakeZadarma()
    async with serving(fake.app()) as fake.base:
        zd = await zadarma(backend_service, fake)
        out = {"call_start": START, "pbx_call_id": "out_1", "internal": "102",
               "destination": "89031234567"}
        await zd.ok(event="NOTIFY_OUT_START", **out)
        await zd.ok(event="NOTIFY_RECORD", pbx_call_id="out_1", call_id_with_rec="1709.77")
        await zd.ok(event="NOTIFY_OUT_END", **out, duration="33", disposition="answered",
                    status_code="16", is_recorded="1", call_id_with_rec="")
        call = await zd.call("out_1")
        assert (call["direction"], call["state"], call["duration"]) == ("out", "ended", 33)
        # No answer event came: the answered record says who answered.
        assert (call["answered_phone"], call["answered_user_id"]) == (
            "102", zd.users["anna"]["id"])
        assert call["record_call"] == {"call_id": "1709.77", "pbx_call_id": "out_1"}
        assert call["activity"]["data"]["client_phone"] == "89031234567"
        assert await zd.notes("anna") == ["ringing", "ended"]
        assert await zd.contacts() == []  # an outgoing call is never a missed one


# --- Sipuni -----------------------------------------------------------------------------------


class Sipuni(Tenant):
    async def ok(self, method: str = "GET", **fields: str) -> None:
        if method == "GET":
            response = await self.service.client.get(self.hook_path + "?" + urlencode(fields))
        else:
            response = await self.service.client.post(
                self.hook_path, data=urlencode(fields),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status == 200, await response.text()
        assert await response.json() == {"success": True}


def sp(event: str, call_id: str = "1709.1", src: str = CLIENT, dst: str = "201",
       src_type: str = "1", dst_type: str = "2", **extra: str) -> dict[str, str]:
    return {"event": event, "call_id": call_id, "src_type": src_type, "src_num": src,
            "dst_type": dst_type, "dst_num": dst, "timestamp": "1709540110", **extra}


def sp_end(status: str, answered_at: str = "", link: str = "", **parties: str
           ) -> dict[str, str]:
    return {**sp("2", **parties), "timestamp": "1709540190", "status": status,
            "call_start_timestamp": "1709540102", "call_answer_timestamp": answered_at,
            "call_record_link": link}


async def sipuni(service: Service) -> Sipuni:
    return await provider_tenant(Sipuni, service, {"name": "sipuni", "region": "RU"},
                                 builder_script("sipuni"), {"a": "a", "b": "b"},
                                 {"201": "a", "202": "b"})


async def test_sipuni_group_call_one_leg_ends_the_other_answers(
        backend_service: Service) -> None:
    tenant = await sipuni(backend_service)
    await tenant.ok(**sp("1", dst="201"))
    await tenant.ok(**sp("1", dst="202"))
    await tenant.ok(**sp("4", dst="201"))  # 201 stopped ringing: the call goes on
    await tenant.ok(**sp("3", dst="202"))
    link = "https://sipuni.example/rec/abc.mp3"
    await tenant.ok("POST", **sp_end("ANSWER", "1709540130", link, dst="202"))
    call = await tenant.call("1709.1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 60)
    assert (call["answered_phone"], call["answered_user_id"]) == ("202", tenant.users["b"]["id"])
    assert await tenant.notes("a") == ["ringing", "ended"]
    assert await tenant.notes("b") == ["ringing", "answered", "ended"]
    played = await tenant.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == link


async def test_sipuni_internal_call_has_no_client_contact(backend_service: Service) -> None:
    tenant = await sipuni(backend_service)
    internal = {"src": "201", "src_type": "2", "dst": "202", "dst_type": "2",
                "call_id": "1709.9"}
    await tenant.ok(**sp("1", **internal))
    await tenant.ok(**sp_end("NOANSWER", **internal))
    call = await tenant.call("1709.9")
    assert (call["direction"], call["state"], call["disposition"]) == (
        "internal", "ended", "no_answer")
    assert call["contact_id"] is None and call["activity"]["contact_id"] is None
    assert call["activity"]["data"]["missed"] is False
    assert await tenant.contacts() == []
    assert await tenant.notes("b") == ["ringing", "ended"]
    assert await tenant.notes("a") == []


# --- MegaFon ----------------------------------------------------------------------------------


TOKEN = "mf-token"


class Megafon(Tenant):
    async def post(self, token: str = TOKEN, **fields: str) -> ClientResponse:
        return await self.service.client.post(
            self.hook_path, data=urlencode({**fields, "crm_token": token}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})

    async def ok(self, **fields: str) -> str:
        response = await self.post(**fields)
        text = await response.text()
        assert response.status == 200, text
        return text


def mf_event(kind: str, user: str, callid: str = "88441", phone: str = CLIENT
             ) -> dict[str, str]:
    return {"cmd": "event", "type": kind, "user": user, "phone": phone, "diversion": COMPANY,
            "direction": "in", "callid": callid}


async def megafon(service: Service) -> Megafon:
    return await provider_tenant(Megafon, service, {
        "name": "megafon", "region": "RU",
        "settings": {"crmToken": TOKEN, "memberField": "user", "defaultResponsible": "boss"},
        "secrets": ["crmToken"],
    }, builder_script("megafon"), {"ivanov": "ivanov", "petrova": "petrova", "sidorov": "s"},
        {"ivanov": "ivanov", "petrova": "petrova", "sidorov": "sidorov"})


async def test_megafon_transfer_then_history_names_the_responsible_operator(
        backend_service: Service) -> None:
    mf = await megafon(backend_service)
    assert (await mf.post(token="wrong", **mf_event("INCOMING", "ivanov"))).status == 403
    await mf.ok(**mf_event("INCOMING", "ivanov"))
    await mf.ok(**mf_event("INCOMING", "petrova"))
    await mf.ok(**mf_event("ACCEPTED", "ivanov"))
    await mf.ok(**mf_event("TRANSFERRED", "sidorov"))
    await mf.ok(**mf_event("ACCEPTED", "sidorov"))
    await mf.ok(**mf_event("COMPLETED", "sidorov"))
    await mf.ok(cmd="history", type="in", user="sidorov", phone=CLIENT, diversion=COMPANY,
                start="20250304T101502Z", duration="93", callid="88441", status="Success",
                link="https://pbx.example/rec/88441.mp3")
    call = await mf.call("88441")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 93)
    assert (call["answered_phone"], call["answered_user_id"]) == (
        "sidorov", mf.users["sidorov"]["id"])
    assert await mf.notes("ivanov") == ["ringing", "answered", "ended"]
    assert await mf.notes("petrova") == ["ringing", "ended"]
    assert await mf.notes("sidorov") == ["ringing", "answered", "ended"]
    assert call["activity"]["data"]["call"] == {"link": "https://pbx.example/rec/88441.mp3",
                                                "started": "2025-03-04T10:15:02+00:00"}
    reply = await mf.ok(cmd="contact", phone=CLIENT)
    assert reply == '{"contact_name": "Client 4567", "responsible": "sidorov"}'
    assert await mf.ok(cmd="contact", phone="79990000000") == (
        '{"contact_name": "Client 0000", "responsible": "boss"}')


async def test_megafon_cancelled_call_and_its_history_make_one_missed_call(
        backend_service: Service) -> None:
    mf = await megafon(backend_service)
    await mf.ok(**mf_event("INCOMING", "petrova", "99"))
    await mf.ok(**mf_event("CANCELLED", "petrova", "99"))
    await mf.ok(cmd="history", type="in", user="petrova", phone=CLIENT, start="20250304T101502Z",
                duration="0", callid="99", status="missed")
    [call] = await mf.calls()
    assert (call["state"], call["disposition"]) == ("ended", "no_answer")
    [contact] = await mf.contacts()
    assert contact["phones"][0]["normalized"] == "+" + CLIENT
    assert call["contact_id"] == contact["id"]
    assert await mf.notes("petrova") == ["ringing", "ended"]
