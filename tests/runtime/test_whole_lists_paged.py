"""The store pages API keys, user tokens and bindings when asked (in SQL, on both backends),
and still reads all of them when not: deploy, the console and call access read every
binding."""

from __future__ import annotations

from runtime.store.base import Store
from runtime.store.models import NewModule


async def test_keys_tokens_and_bindings_page_in_the_store(store: Store) -> None:
    acme = await store.create_tenant("acme")
    keys = [(await store.create_api_key(acme.id))[0] for _ in range(3)]
    user = await store.create_user(acme.id, "alice")
    for _ in range(3):
        await store.create_user_token(acme.id, user.id)
    module = await store.create_module(acme.id, NewModule(name="m", region="RU"))
    await store.set_bindings(acme.id, module.id, {str(100 + n): user.id for n in range(4)})

    whole_keys = await store.list_api_keys(acme.id)
    assert {k.id for k in whole_keys} == {k.id for k in keys}
    assert await store.list_api_keys(acme.id, 2, 1) == whole_keys[1:3]
    assert await store.list_api_keys(acme.id, None, 2) == whole_keys[2:]

    whole_tokens = await store.list_user_tokens(acme.id, user.id)
    assert whole_tokens is not None and len(whole_tokens) == 3
    assert await store.list_user_tokens(acme.id, user.id, 1, 1) == whole_tokens[1:2]
    assert await store.list_user_tokens(acme.id, "usr_nope", 1, 0) is None

    whole = await store.list_bindings(acme.id, module.id)
    assert whole is not None and [b.member_id for b in whole] == ["100", "101", "102", "103"]
    assert await store.list_bindings(acme.id, module.id, 2, 1) == whole[1:3]
    assert await store.list_bindings(acme.id, module.id, None, 3) == whole[3:]
    # Past the last: the module's empty page, not "no such module".
    assert await store.list_bindings(acme.id, module.id, 5, 10) == []
    assert await store.list_bindings(acme.id, "mod_nope", 5, 0) is None
