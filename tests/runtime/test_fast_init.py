"""models.fast_init: a record made through it is the one the dataclass's own __init__ makes.

fast_init sets the fields of a frozen, slotted dataclass through a twin class of the same
slots for the time of __init__; whatever it does inside, what comes out must be an instance of
the class itself, every field set, frozen, equal and hashed as the dataclass's own would be.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from runtime.store.models import Call, CallState, fast_init, utc_now


@dataclass(frozen=True, slots=True)
class Plain:
    name: str
    count: int = 3
    tags: tuple[str, ...] = ()
    extra: list[str] = field(default_factory=list)


Fast = fast_init(dataclass(frozen=True, slots=True)(type("Fast", (), {
    "__annotations__": dict(Plain.__annotations__), "count": 3, "tags": (),
    "extra": field(default_factory=list), "__module__": __name__})))


def test_fields_defaults_and_factories_as_the_dataclass_sets_them() -> None:
    for args, kwargs in [(("a",), {}), (("a", 5), {"tags": ("x",)}),
                         ((), {"name": "b", "extra": ["e"]})]:
        made, plain = Fast(*args, **kwargs), Plain(*args, **kwargs)
        assert type(made) is Fast
        assert dataclasses.astuple(made) == dataclasses.astuple(plain)
    first, second = Fast("a"), Fast("a")
    assert first.extra == [] and first.extra is not second.extra  # a new list each


def test_a_record_is_of_its_class_frozen_and_equal() -> None:
    now = utc_now()
    values = dict(id="call_1", tenant_id="t", module_id="m", provider_call_id="p",
                  direction="in", state=CallState.RINGING, disposition="unknown",
                  src_phone="+7", src_phone_ext=None, dst_phone="101", dst_phone_ext=None,
                  client_phone="+7", client_phone_normalized="+7", contact_id=None,
                  duration=None, record_call=None, has_record=False, created_at=now,
                  answered_at=None, ended_at=None, updated_at=now, answered_phone="101",
                  answered_user_id="usr_1")
    call = Call(**values)  # type: ignore[arg-type]
    assert type(call) is Call and call.__class__ is Call
    assert {f.name: getattr(call, f.name) for f in dataclasses.fields(Call)} == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.state = CallState.ENDED  # type: ignore[misc]
    assert call == Call(**values) and hash(call) == hash(Call(**values))  # type: ignore[arg-type]
    changed = dataclasses.replace(call, state=CallState.ENDED)
    assert type(changed) is Call and changed.state is CallState.ENDED and call.state is not None


def test_a_subclass_keeps_its_class() -> None:
    # A subclass's layout is its own: its instance is set through the descriptors, and stays
    # an instance of the subclass.
    @dataclass(frozen=True, slots=True, init=False)  # Fast's __init__
    class Named(Fast):  # type: ignore[valid-type,misc]
        pass

    named = Named("n", 1)
    assert type(named) is Named and (named.name, named.count) == ("n", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        named.name = "m"
