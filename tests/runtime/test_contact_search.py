"""The store's reads behind the console's contacts search and its "Call" menus, on both
backends: a contact found by a part of its name in any case (Cyrillic too) or of its number;
a menu's lines read for the modules asked about only."""

from __future__ import annotations

from runtime.store import Store
from runtime.store.models import ContactPhone, NewModule


def phone(raw: str, normalized: str | None = None) -> ContactPhone:
    return ContactPhone(raw, normalized if normalized is not None else raw)


async def names(store: Store, tenant_id: str, words: str, digits: tuple[str, ...] = (),
                number: str | None = None, limit: int = 50, offset: int = 0) -> list[str]:
    return [c.name for c in await store.search_contacts(tenant_id, words, digits, number,
                                                        limit, offset)]


async def test_contacts_are_found_by_a_part_of_the_name_or_number(store: Store) -> None:
    acme = await store.create_tenant("acme")
    globex = await store.create_tenant("globex")
    await store.create_contact(acme.id, "Иван Петров", [phone("+7 916 123-45-67",
                                                              "+79161234567")])
    await store.create_contact(acme.id, "OLGA ivanova", [phone("+74951112233")])
    await store.create_contact(acme.id, "50% off_shop", [phone("ext. 101", "")])
    await store.create_contact(globex.id, "Иван Чужой", [phone("+79161234567")])

    # Any case, Latin and Cyrillic; newest first; the tenant's own only.
    assert await names(store, acme.id, "иван") == ["Иван Петров"]
    assert await names(store, acme.id, "ИВАН") == ["Иван Петров"]
    assert await names(store, acme.id, "Ivan") == ["OLGA ivanova"]
    assert await names(store, acme.id, "O") == ["50% off_shop", "OLGA ivanova"]
    # LIKE's wildcards are plain characters.
    assert await names(store, acme.id, "%") == ["50% off_shop"]
    assert await names(store, acme.id, "f_s") == ["50% off_shop"]
    assert await names(store, acme.id, "_") == ["50% off_shop"]
    # A part of a number: of its E.164 form, or of the text as typed (a non-number).
    assert await names(store, acme.id, "", ("9161234",)) == ["Иван Петров"]
    assert await names(store, acme.id, "", ("000", "101")) == ["50% off_shop"]
    assert await names(store, acme.id, "", (), "+74951112233") == ["OLGA ivanova"]
    assert await names(store, acme.id, "", ("%",)) == []  # digits only
    # Nothing asked: nothing found; a page at a time.
    assert await names(store, acme.id, "") == []
    assert await names(store, acme.id, "o", limit=1) == ["50% off_shop"]
    assert await names(store, acme.id, "o", limit=1, offset=1) == ["OLGA ivanova"]


async def test_call_menu_lines_are_read_for_the_modules_asked_only(store: Store) -> None:
    acme = await store.create_tenant("acme")
    globex = await store.create_tenant("globex")
    alice = await store.create_user(acme.id, "alice")
    bob = await store.create_user(acme.id, "bob")
    eve = await store.create_user(globex.id, "eve")
    zeta = await store.create_module(acme.id, NewModule(name="zeta", region="RU"))
    alpha = await store.create_module(acme.id, NewModule(name="alpha", region="RU"))
    theirs = await store.create_module(globex.id, NewModule(name="alpha", region="RU"))
    await store.set_bindings(acme.id, zeta.id, {"9": alice.id, "10": bob.id, "11": bob.id})
    await store.set_bindings(acme.id, alpha.id, {"3": bob.id, "1": alice.id, "2": alice.id})
    await store.set_bindings(globex.id, theirs.id, {"1": eve.id})

    def said(lines: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
        return [(b.module_name, b.member_id, b.user_id) for b in lines]

    # Each user once, at their first extension (by text, as list_bindings orders them).
    assert said(await store.dial_bindings(acme.id, [zeta.id], 100, 100)) == [
        ("zeta", "10", bob.id), ("zeta", "9", alice.id)]
    assert said(await store.dial_bindings(acme.id, None, 100, 100)) == [
        ("alpha", "1", alice.id), ("alpha", "3", bob.id),
        ("zeta", "10", bob.id), ("zeta", "9", alice.id)]
    assert said(await store.dial_bindings(acme.id, None, 1, 100)) == [
        ("alpha", "1", alice.id), ("zeta", "10", bob.id)]  # per module
    assert said(await store.dial_bindings(acme.id, None, 100, 3)) == [
        ("alpha", "1", alice.id), ("alpha", "3", bob.id), ("zeta", "10", bob.id)]  # in all
    assert said(await store.dial_bindings(acme.id, [alpha.id, zeta.id], 100, 100,
                                          bob.id)) == [("alpha", "3", bob.id),
                                                       ("zeta", "10", bob.id)]
    # Another tenant's module, or none asked: nothing.
    assert await store.dial_bindings(acme.id, [theirs.id], 100, 100) == []
    assert await store.dial_bindings(globex.id, [zeta.id], 100, 100) == []
    assert await store.dial_bindings(acme.id, [], 100, 100) == []
