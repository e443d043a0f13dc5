"""What the runtime does with a script's parse result (contract §5, items 2, 3 and 5).

    effects = await store.write(lambda tx: act(tx, ctx, result))      # for real
    effects = await store.dry_run(lambda tx: act(tx, ctx, result))    # "what would happen"
    await runner.publish(effects)       # after the commit: hub.publish(n.user_id, ...) each

`act` is written once, over the backend-neutral `Tx` protocol; it only reads and writes
through `tx`, so everything it does commits (or rolls back) as one unit with the caller's
other writes. The webhook path typically stores its execution-log row in the same unit:

    async def unit(tx: Tx) -> Effects:
        effects = await act(tx, ctx, result)
        await tx.insert_execution(replace(execution, effects=effects.to_json()))
        return effects

If `act` raises (StorageLimitExceeded when the module's storage filled up meanwhile), the unit
is rolled back whole -- nothing stored, nobody notified -- and the caller records the failed
execution on its own with `store.record_execution(...)`.

Choices that are ours (the contract is silent), kept here:
- Matching: `callId` first (a call in any state, so late events and retries find it); when a
  `callId` is given but unknown, an open call with the same numbers that has no `callId` of its
  own is adopted, and for an end event or a call record, failing that, one that ended within
  RECENT_END (live events without ids, then the provider's call log with them). Without
  `callId`, the latest not-ended call with the same numbers, direction
  included; failing that, the latest call with the same numbers that ended within RECENT_END
  (so a retried NotifyEnd or NotifyAnswer, an answer or a start that the end overtook, or a
  record arriving after the end, does not open a second call left ringing or answered
  forever). A ringing event (NotifyStart, NotifyInternal, NotifyOutStart) that the ended call
  already had begins a new call instead: the client calling back, which must ring (a retry of
  it after the end cannot be told apart without a callId, and a phantom ringing call is the
  lesser harm than a call nobody is told of). So does such an event for a call still
  ringing since it had that event more than RING_OVER ago: no phone rings that long, the
  first call is over though no end came (a module sending only NotifyStart, as the
  platform's documented example, left every later call of that client a repeat of the first,
  ringing at nobody). Likewise a call record without callId joins
  an ended call only when that call has no record yet or this one is a repeat: a different
  record is another call's (a module sending only records, as the platform's example, reports
  a missed call and the call back minutes later; the second overwrote the first).
- A history row is stored for every event and record, with its effect ('applied', 'repeat',
  'late'); records use the kind 'call_record'. A record equal to the call's current one, or
  to any record stored for the call before (a retried earlier webhook), is a repeat.
- A repeat takes precedence over late: a retried NotifyStart after the answer is a repeat.
- Transfers (contract §5): a NotifyStart or NotifyInternal for an answered call, at an
  operator number not yet notified for the call, is applied, not late: that phone's user is
  notified (ringing) and the call stays answered. At a phone already notified it is a repeat
  or late as any other event. A later NotifyAnswer from the new phone is applied (other
  numbers, so no repeat) and makes it the answering phone.
- Who answered: the call keeps the operator number of the latest applied NotifyAnswer and the
  user bound to it then (`answered_phone`, `answered_user_id`). A NotifyAnswer arriving after
  the end, or an `Answered` call record, fills them only when no answer event set them.
- Notifications: a user is never sent the same kind (ringing / answered / ended) twice for
  one call, so NotifyStart then NotifyInternal at the same phone pops up once.
  NotifyEnd goes to the users notified of this call, nobody else (a call first seen at its end
  notifies no one); NotifyOutEnd to the user bound to srcPhone and, like NotifyEnd, every user
  notified of this call (an outgoing call transferred to a colleague ends for them too,
  whichever phone the end names).
- An ended call's disposition is final: another end event for it (other numbers, so not a
  repeat: the phone that transferred the call away, a leg of a group ringing) is stored as
  applied and tells anyone notified who was not yet told of the end, but leaves the
  disposition as the first end or the call record set it (filling it in only when that was
  Unknown); a call record still corrects it.
- A NotifyAnswer after the end (late) fills in who answered only when no answer event said it
  before and the call's final disposition is Answered or Unknown: a call that ended
  'no_answer' (or busy, ...) stays answered by nobody. A notification's payload shows
  the call and the client's contact as the whole result left them (the callRecord beside the
  event included: its duration, and the contact a missed call created).
- The operator's number comes from the direction (dstPhone for In/Internal, srcPhone for Out),
  whatever the event kind; the client's number likewise (srcPhone for In, dstPhone for Out,
  none for Internal: an internal call has no client contact).
- Call records of internal calls, and of clients whose number matches no contact, still get an
  activity entry, with contact_id NULL and the number as given in its data (see
  `ActivityEntry`); only a missed incoming call from a number that normalises creates a contact,
  named after the number as given.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from runtime import ids
from runtime.contract import (
    CallDirection,
    CallDisposition,
    CallEvent,
    CallRecord,
    ParseResult,
    WebhookEvent,
)
from runtime.phones import contact_number
from runtime.phones import normalize_phone as _normalize_phone
from runtime.store.base import Tx
from runtime.store.models import (
    CALL_RECORD_KIND,
    DEFAULT_STORAGE_LIMITS,
    JSON,
    ActivityEntry,
    Call,
    CallEventRecord,
    CallLookup,
    CallNotified,
    CallScene,
    CallState,
    Contact,
    ContactPhone,
    EventEffect,
    Notification,
    NotificationKind,
    StorageLimits,
    StorageOp,
    fast_init,
    to_json,
    truncate_ms,
)
from sandbox.jsontext import JSONObject

# How long after its end a call still takes an event or a record that has no callId.
RECENT_END = timedelta(hours=1)
# How long a call can ring at one phone. Without a callId, the same ringing event for a call
# still ringing after this is not a retry but the client calling again: no phone rings this
# long (PBXs give up within minutes), so the first call is over though no end came (a module
# sending only NotifyStart, as the platform's documented example, never sends one).
RING_OVER = timedelta(minutes=10)

EVENT_STATE: dict[WebhookEvent, CallState] = {
    WebhookEvent.NotifyStart: CallState.RINGING,
    WebhookEvent.NotifyInternal: CallState.RINGING,
    WebhookEvent.NotifyOutStart: CallState.RINGING,
    WebhookEvent.NotifyAnswer: CallState.ANSWERED,
    WebhookEvent.NotifyEnd: CallState.ENDED,
    WebhookEvent.NotifyOutEnd: CallState.ENDED,
}

# The members every event's path compares with, as module globals: a member read off its
# class (`CallState.ENDED`) goes through the enum metaclass's generic attribute lookup in
# Python 3.11, a dozen times a webhook; a global is one dictionary read.
_IN, _OUT = CallDirection.In, CallDirection.Out
_RINGING, _ANSWERED, _ENDED = CallState.RINGING, CallState.ANSWERED, CallState.ENDED
_NOTIFY_ANSWER, _NOTIFY_END = WebhookEvent.NotifyAnswer, WebhookEvent.NotifyEnd
_NOTIFY_OUT_END = WebhookEvent.NotifyOutEnd
_UNKNOWN_DISPOSITION = CallDisposition.Unknown._value_
# The final dispositions of an ended call that a late NotifyAnswer may fill in who answered
# for: it was answered, or its end did not say (values, as the call stores them).
_MAY_HAVE_BEEN_ANSWERED = frozenset({CallDisposition.Answered._value_,
                                     CallDisposition.Unknown._value_})
# A history row's kind for an answer event (rows keep the event's value).
_NOTIFY_ANSWER_KIND = WebhookEvent.NotifyAnswer._value_
_APPLIED, _REPEAT, _LATE = EventEffect.APPLIED, EventEffect.REPEAT, EventEffect.LATE
_RINGING_KIND = NotificationKind.RINGING

STATE_NOTIFICATION: dict[CallState, NotificationKind] = {
    CallState.RINGING: NotificationKind.RINGING,
    CallState.ANSWERED: NotificationKind.ANSWERED,
    CallState.ENDED: NotificationKind.ENDED,
}


# --- inputs -----------------------------------------------------------------------------------


class StorageWriteLike(Protocol):
    """A script's storage.set / storage.delete, to commit with the webhook's other effects.

    Any object of this shape will do: the capability session collects its own while the
    script runs (runtime.capabilities.StorageWrite); `expires_at` is absolute, computed when
    the script called `set`.
    """

    @property
    def op(self) -> StorageOp: ...

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> JSON: ...

    @property
    def expires_at(self) -> datetime | None: ...


@fast_init
@dataclass(frozen=True, slots=True)
class ActContext:
    tenant_id: str
    module_id: str
    region: str  # the module's default phone region
    execution_id: str | None
    now: datetime
    storage_writes: Sequence[StorageWriteLike] = ()
    storage_limits: StorageLimits = DEFAULT_STORAGE_LIMITS
    # tenant_limits.max_contacts: at it, a missed call from a new number is recorded without
    # creating its contact (Effects.contact_not_created says so). None: no cap.
    max_contacts: int | None = None


# --- outputs ----------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class CallChange:
    id: str
    created: bool
    state_before: CallState | None  # None when created
    state_after: CallState
    repeat: bool
    late: bool


@fast_init
@dataclass(frozen=True, slots=True)
class ActivityChange:
    id: str
    action: Literal["created", "updated", "unchanged"]
    contact_id: str | None
    call_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ContactCreated:
    id: str
    name: str
    phone: str  # E.164


@fast_init
@dataclass(frozen=True, slots=True)
class ContactNotCreated:
    """A missed call from a number no contact has, whose contact was not made: the tenant has
    `limit` contacts (tenant_limits.max_contacts). The call and its activity are recorded."""

    phone: str  # E.164
    limit: int

    def to_json(self) -> dict[str, JSON]:
        return {"phone": self.phone, "reason": "limit_reached",
                "message": f"the tenant has reached its limit of {self.limit} contacts "
                           "(tenant_limits.max_contacts in the service's configuration): the "
                           "call is recorded without a contact; delete or merge contacts, or "
                           "ask the operator to raise it",
                "limit": "tenant_limits.max_contacts", "max": self.limit}


@fast_init
@dataclass(frozen=True, slots=True)
class Effects:
    """What a result did (or, in a dry run, would do).

    `to_json()` is the description stored in the execution log and shown by dry runs:
        {"call":     {"id", "created", "state_before", "state_after", "repeat", "late"} | null,
         "record":   same shape, the call the callRecord updated | null,
         "activity": {"id", "action": "created"|"updated"|"unchanged", "contact_id",
                      "call_id"} | null,
         "contact_created": {"id", "name", "phone"} | null,
         "notifications": [{"user_id", "kind", "call_id"}],
         "storage": [{"op", "key"}]}
    and, only when a missed call's contact was not made for the tenant's cap,
        "contact_not_created": {"phone", "reason": "limit_reached", "message", "limit", "max"}
    `pushes` are the stored notifications whose payloads the service sends live after commit.
    """

    call: CallChange | None = None
    record: CallChange | None = None
    activity: ActivityChange | None = None
    contact_created: ContactCreated | None = None
    pushes: tuple[Notification, ...] = ()
    storage: tuple[StorageWriteLike, ...] = ()
    contact_not_created: ContactNotCreated | None = None

    def to_json(self) -> dict[str, JSON]:
        # Written out, not through models.to_json's walk over the fields: this is stored with
        # every webhook's execution row. test_acting checks it against the walk.
        data = JSONObject(
            call=_change_json(self.call),
            record=_change_json(self.record),
            activity=None if self.activity is None else {
                "id": self.activity.id, "action": self.activity.action,
                "contact_id": self.activity.contact_id, "call_id": self.activity.call_id},
            contact_created=None if self.contact_created is None else {
                "id": self.contact_created.id, "name": self.contact_created.name,
                "phone": self.contact_created.phone},
            # (A comprehension is a function call in 3.11: none for an empty tuple.)
            notifications=[
                {"user_id": n.user_id, "kind": n.kind._value_, "call_id": n.call_id}
                for n in self.pushes
            ] if self.pushes else [],
            storage=[{"op": w.op, "key": w.key} for w in self.storage] if self.storage else [],
        )
        if self.contact_not_created is not None:
            # Only then: every other execution's effects keep their shape (and their text).
            data["contact_not_created"] = self.contact_not_created.to_json()
        if (self.record is None and self.activity is None and self.contact_created is None
                and not self.storage):
            # An event's effects (most webhooks'): their text written here, as the store's
            # encoder writes it (test_acting compares), cheaper than its walk over the dict.
            data.text = _event_effects_text(self.call, self.pushes)
        return data


def _change_text(change: CallChange | None) -> str:
    if change is None:
        return "null"
    before = change.state_before
    return (f'{{"id":{_encode_string(change.id)},"created":{_BOOL[change.created]},'
            f'"state_before":{"null" if before is None else _encode_string(before._value_)},'
            f'"state_after":{_encode_string(change.state_after._value_)},'
            f'"repeat":{_BOOL[change.repeat]},"late":{_BOOL[change.late]}}}')


def _event_effects_text(change: CallChange | None, pushes: Sequence[Notification]) -> str:
    # A notification's user, call and kind are never None (Notification's fields).
    notifications = ",".join([
        f'{{"user_id":{_encode_string(n.user_id)},"kind":{_encode_string(n.kind._value_)},'
        f'"call_id":{_encode_string(n.call_id)}}}' for n in pushes]) if pushes else ""
    return (f'{{"call":{_change_text(change)},"record":null,"activity":null,'
            f'"contact_created":null,"notifications":[{notifications}],"storage":[]}}')


_BOOL = {True: "true", False: "false"}
# Enum members' values are read as `_value_` throughout this module: the member's own
# attribute, the same string as `.value`, which in Python 3.11 is a property whose getter runs
# in Python (several reads a webhook; tables.py does the same).
# A str's JSON text as the store's encoder writes it (non-ASCII kept).
_encode_string = json.encoder.encode_basestring


def _change_json(change: CallChange | None) -> dict[str, JSON] | None:
    if change is None:
        return None
    before = change.state_before
    return {"id": change.id, "created": change.created,
            "state_before": None if before is None else before._value_,
            "state_after": change.state_after._value_, "repeat": change.repeat,
            "late": change.late}


# --- numbers ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def normalize_phone(raw: str, region: str) -> str | None:
    """runtime.phones.normalize_phone, cached: a `+digits` number costs about 25,000
    instructions (runtime/phones_fast.py), any other text the library's parse, ten times
    that, more than a whole execution-row unit; and the same numbers come back again and
    again (a call's events, regular clients, retries). Parsing is pure, so a cached answer
    is the answer. Bounded: the numbers are the tenants' (hostile) input, up
    to 64 characters each; 4,096 entries are about a megabyte, and hold every number of
    the calls in progress on a busy node, whose events follow each other within minutes."""
    return _normalize_phone(raw, region)


def operator_phone(direction: CallDirection, src_phone: str, dst_phone: str) -> str:
    """The operator's internal number: dstPhone for In and Internal, srcPhone for Out."""
    return src_phone if direction is _OUT else dst_phone


def client_phone(direction: CallDirection, src_phone: str, dst_phone: str) -> str | None:
    """The client's number: srcPhone for In, dstPhone for Out, none for Internal."""
    if direction is _IN:
        return src_phone
    if direction is _OUT:
        return dst_phone
    return None


def contact_phones(raws: Iterable[str], region: str) -> tuple[ContactPhone, ...]:
    """Phones as the store keeps them, for the API creating contacts."""
    return tuple(ContactPhone(raw, normalize_phone(raw, region)) for raw in raws)


# (direction, srcPhone, srcPhoneExt, dstPhone, dstPhoneExt): the direction as stored.
Numbers = tuple[str, str, str | None, str, str | None]


def _numbers(part: CallEvent | CallRecord) -> Numbers:
    """The part's numbers, read once per event or record and handed to each step that needs
    them: a read of a contract model's field goes through pydantic's `__getattr__` hook
    (some 370 instructions, where a local costs next to nothing), and the steps below read
    the numbers again and again (the lookup, the call, the history row, both phones)."""
    return (part.direction._value_, part.src_phone, part.src_phone_ext, part.dst_phone,
            part.dst_phone_ext)


# --- acting -----------------------------------------------------------------------------------


async def act(tx: Tx, ctx: ActContext, result: ParseResult) -> Effects:
    """Apply a validated parse result: event, then call record, then storage writes.

    The event's notifications are written last, from the call and the contact as the whole
    unit left them: a missed call's NotifyEnd and its callRecord often come in one result
    (Zadarma's do), and the contact the record creates must be in the "ended" notification,
    or a client offers to create a second contact for that number. No read is added for it:
    the record's step hands back the call and contact it wrote.
    """
    if ctx.now.tzinfo is not UTC or ctx.now.microsecond % 1000:
        # Only when not already cut: `replace` costs microseconds on every webhook.
        ctx = replace(ctx, now=truncate_ms(ctx.now))
    call_change: CallChange | None = None
    pending: PendingNotifications | None = None
    event, call_record = result.event, result.call_record  # (model reads: once, see _numbers)
    if event is not None:
        call_change, pending = await _apply_event(tx, ctx, event)
    record_change = activity = contact_created = None
    not_created: ContactNotCreated | None = None
    if call_record is not None:
        record_change, activity, contact_created, recorded = await _apply_record(
            tx, ctx, call_record)
        not_created = recorded.not_created
        if pending is not None:
            pending = pending.after_record(recorded)
    pushes = await _send(tx, ctx, pending) if pending is not None else []
    if ctx.storage_writes:  # (most scripts write none: no coroutine made for nothing)
        await _apply_storage(tx, ctx)
    return Effects(call=call_change, record=record_change, activity=activity,
                   contact_created=contact_created, pushes=tuple(pushes),
                   storage=tuple(ctx.storage_writes), contact_not_created=not_created)


def _lookup(ctx: ActContext, call_id: str | None, numbers: Numbers, *, after_end: bool,
            client_normalized: str | None, operator: str | None,
            notify: bool = False) -> CallLookup:
    """What to read before acting on an event or a call record (its callId and numbers): its
    call (callId first; failing that an open call with the same numbers that has no callId of
    its own, since an earlier event may have come without one, never one with another callId;
    without a callId, the latest open call with these numbers; failing either, with
    `after_end`, one that ended within RECENT_END, on the same terms), the client's contact and
    the operator's user."""
    direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext = numbers
    return CallLookup(
        tenant_id=ctx.tenant_id, module_id=ctx.module_id, provider_call_id=call_id,
        direction=direction, src_phone=src_phone, src_phone_ext=src_phone_ext,
        dst_phone=dst_phone, dst_phone_ext=dst_phone_ext,
        ended_since=ctx.now - RECENT_END if after_end else None,
        client_phone=client_normalized, operator_phone=operator, notify=notify)


def _client(ctx: ActContext, direction: CallDirection, numbers: Numbers
            ) -> tuple[str | None, str | None]:
    """(client number as given, its E.164 form)."""
    _, src_phone, _, dst_phone, _ = numbers
    raw = client_phone(direction, src_phone, dst_phone)
    return raw, normalize_phone(raw, ctx.region) if raw is not None else None


def _operator(direction: CallDirection, numbers: Numbers) -> str:
    """The operator's number (operator_phone)."""
    _, src_phone, _, dst_phone, _ = numbers
    return operator_phone(direction, src_phone, dst_phone)


def _history_row(ctx: ActContext, call: Call, kind: str, numbers: Numbers, payload: JSON,
                 effect: EventEffect) -> CallEventRecord:
    direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext = numbers
    return CallEventRecord(
        id=ids.new_id(ids.CALL_EVENT), call_id=call.id, kind=kind, direction=direction,
        src_phone=src_phone, src_phone_ext=src_phone_ext, dst_phone=dst_phone,
        dst_phone_ext=dst_phone_ext, payload=payload, effect=effect, received_at=ctx.now,
        execution_id=ctx.execution_id,
    )


def _new_call(ctx: ActContext, call_id: str | None, numbers: Numbers, disposition: str,
              state: CallState, client_raw: str | None, client_normalized: str | None,
              contact: Contact | None) -> Call:
    direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext = numbers
    return Call(
        id=ids.new_id(ids.CALL), tenant_id=ctx.tenant_id, module_id=ctx.module_id,
        provider_call_id=call_id, direction=direction, state=state, disposition=disposition,
        src_phone=src_phone, src_phone_ext=src_phone_ext, dst_phone=dst_phone,
        dst_phone_ext=dst_phone_ext, client_phone=client_raw,
        client_phone_normalized=client_normalized,
        contact_id=contact.id if contact is not None else None, duration=None,
        record_call=None, has_record=False, created_at=ctx.now, updated_at=ctx.now,
        answered_at=ctx.now if state is _ANSWERED else None,
        ended_at=ctx.now if state is _ENDED else None,
    )


# --- events (§5.2) ----------------------------------------------------------------------------


async def _apply_event(tx: Tx, ctx: ActContext, event: CallEvent
                       ) -> tuple[CallChange, PendingNotifications | None]:
    # The event's fields read once (see _numbers).
    kind, direction, call_id, numbers = (event.event, event.direction, event.call_id,
                                         _numbers(event))
    target = EVENT_STATE[kind]
    client_raw, client_normalized = _client(ctx, direction, numbers)
    phone = _operator(direction, numbers)
    # NotifyEnd tells those already notified; every other event the operator's user.
    operator = None if kind is _NOTIFY_END else phone
    # Without a callId an ended call is looked for too (a retry or a late event of it, in
    # any order: the end overtook the answer or the start).
    scene = await tx.call_scene(_lookup(ctx, call_id, numbers,
                                        after_end=target is _ENDED or call_id is None,
                                        client_normalized=client_normalized,
                                        operator=operator, notify=True))
    if call_id is None and target is _RINGING and (
            _rang_before(scene, kind, numbers) or _rang_long_ago(ctx, scene, kind, numbers)):
        # An ended call that already rang with this very event, or a call still ringing
        # since it rang with it longer ago than any phone rings: the client called again
        # (a new call), which must ring; a retry after the end cannot be told apart from it.
        scene = _no_call(scene)
    contact, call = scene.contact, scene.call
    if call is None:
        call = _new_call(ctx, call_id, numbers, event.disposition._value_, target, client_raw,
                         client_normalized, contact)
        if kind is _NOTIFY_ANSWER:
            call = _answered_by(call, operator, scene.bound_user_id)
        await tx.insert_call(call)
        effect = _APPLIED
        change = CallChange(call.id, True, None, call.state, repeat=False, late=False)
    else:
        before = call.state
        if any(h.kind == kind._value_ and h.numbers == numbers for h in scene.history):
            effect = _REPEAT
        elif target.rank < call.state.rank and _is_transfer(kind, phone, call, scene):
            # The answered call now rings at another operator's phone: that operator is told
            # it rings for them; the call itself stays answered.
            effect = _APPLIED
        elif target.rank < call.state.rank:
            effect = _LATE
            if (kind is _NOTIFY_ANSWER and call.disposition in _MAY_HAVE_BEEN_ANSWERED
                    and (call.answered_phone is None or not _answer_reported(scene))):
                # The answer reported after the end: the state stays, who answered is known
                # (over a record's word, as an answer event on time would be). Not when the
                # end's final disposition says nobody answered (no_answer, busy, ...): the
                # call would read 'no_answer' yet answered by that operator, listed among
                # their answered calls and playable with their token.
                call = replace(_answered_by(call, operator, scene.bound_user_id),
                               updated_at=ctx.now)
                await tx.update_call(call)
        else:
            effect = _APPLIED
            call = _advance(ctx, call, event, target, contact)
            if kind is _NOTIFY_ANSWER:
                call = _answered_by(call, operator, scene.bound_user_id)
            await tx.update_call(call)
        change = CallChange(call.id, False, before, call.state,
                            repeat=effect is _REPEAT, late=effect is _LATE)
    await tx.insert_call_event(_history_row(ctx, call, kind._value_, numbers, event.to_json(),
                                            effect))
    if effect is not _APPLIED:
        return change, None
    return change, await _recipients(tx, ctx, event, phone, call, scene, contact,
                                     STATE_NOTIFICATION[target])


def _rang_before(scene: CallScene, kind: WebhookEvent, numbers: Numbers) -> bool:
    """Whether the call found, ended, had this ringing event (`kind`, `numbers`) already."""
    call = scene.call
    return (call is not None and call.state is _ENDED
            and any(h.kind == kind._value_ and h.numbers == numbers for h in scene.history))


def _rang_long_ago(ctx: ActContext, scene: CallScene, kind: WebhookEvent, numbers: Numbers
                   ) -> bool:
    """Whether the call found is still ringing since it had this ringing event (`kind`,
    `numbers`) more than RING_OVER ago: that call is over, nobody told us (RING_OVER)."""
    call = scene.call
    if call is None or call.state is not _RINGING:
        return False
    over = ctx.now - RING_OVER
    return any(h.kind == kind._value_ and h.numbers == numbers and h.received_at <= over
               for h in scene.history)


def _no_call(scene: CallScene) -> CallScene:
    """The scene as it reads where no call was found: a new call's (nobody notified of it)."""
    return replace(scene, call=None, history=(), notified=(), activity=None)


def _is_transfer(kind: WebhookEvent, phone: str, call: Call, scene: CallScene) -> bool:
    """A NotifyStart or NotifyInternal (`kind`) for a call that is answered but not over, at
    an operator number (`phone`) not yet notified for it: the call rings at another phone."""
    if call.state is not CallState.ANSWERED or kind not in (
            WebhookEvent.NotifyStart, WebhookEvent.NotifyInternal):
        return False
    # The answering phone counts as notified even when nobody is bound to it (no row then).
    return phone != call.answered_phone and not any(row.phone == phone
                                                    for row in scene.notified)


def _record_stored(scene: CallScene, payload: JSON) -> bool:
    """Whether this very record was stored for the call before, though a later one changed
    it since: a provider's retry of an earlier webhook (Zadarma's NOTIFY_END, retried after
    its NOTIFY_RECORD brought the recording) is a repeat and changes nothing (contract §5),
    where taking it as an update erased the recording."""
    return any(h.kind == CALL_RECORD_KIND and h.payload == payload for h in scene.history)


def _answer_reported(scene: CallScene) -> bool:
    """Whether a NotifyAnswer came for the call (on time or late): then it says who answered,
    whatever a record says later (contract §5.2, "Who answered")."""
    return any(h.kind == _NOTIFY_ANSWER_KIND for h in scene.history)


def _answered_by(call: Call, phone: str | None, user_id: str | None) -> Call:
    """The call answered at the operator number `phone` by the user bound to it now."""
    return replace(call, answered_phone=phone, answered_user_id=user_id)


def _advance(ctx: ActContext, call: Call, event: CallEvent, target: CallState,
             contact: Contact | None) -> Call:
    """The call after an applied event: state only forward, known facts never erased."""
    state = target if target.rank > call.state.rank else call.state
    # An ended call's disposition is final (contract §5: NotifyEnd's disposition is final;
    # a call record sets it too): another end event with other numbers (the phone that
    # transferred the call away, one leg of a group ringing, a late end after the record)
    # is kept in the history but does not turn an answered call into 'cancel' or 'busy'
    # beside its answered operator and its record. Only an end that left it Unknown is
    # filled in. Records still correct it (_apply_record).
    keep = event.disposition is CallDisposition.Unknown or (
        call.state is _ENDED and call.disposition != _UNKNOWN_DISPOSITION)
    disposition = call.disposition if keep else event.disposition._value_
    answered_at = call.answered_at
    if answered_at is None and target is CallState.ANSWERED:
        answered_at = ctx.now
    ended_at = call.ended_at
    if ended_at is None and state is CallState.ENDED:
        ended_at = ctx.now
    return replace(
        call, state=state, disposition=disposition, answered_at=answered_at, ended_at=ended_at,
        provider_call_id=call.provider_call_id or event.call_id,
        contact_id=call.contact_id or (contact.id if contact is not None else None),
        updated_at=ctx.now,
    )


@fast_init
@dataclass(frozen=True, slots=True)
class PendingNotifications:
    """An applied event's notifications, decided but not yet written: who is told what, and
    the call and contact their payload shows (updated when the unit's call record changed
    them)."""

    event: CallEvent
    kind: NotificationKind
    call: Call
    contact: Contact | None
    recipients: tuple[tuple[str, str], ...]  # (user id, the phone it was reached by)

    def after_record(self, recorded: Recorded) -> PendingNotifications:
        """The payload as the unit's call record left it, when the record was of this call."""
        if recorded.call.id != self.call.id:
            return self
        return replace(self, call=recorded.call, contact=recorded.contact or self.contact)


@fast_init
@dataclass(frozen=True, slots=True)
class Recorded:
    """What a call record's step wrote: the call, and the client's contact (found or
    created; None for an internal call or a number no contact has)."""

    call: Call
    contact: Contact | None
    not_created: ContactNotCreated | None = None  # a contact the tenant's cap kept out


async def _recipients(tx: Tx, ctx: ActContext, event: CallEvent, phone: str, call: Call,
                      scene: CallScene, contact: Contact | None, kind: NotificationKind
                      ) -> PendingNotifications | None:
    """Who is to be told of an applied event (each user each kind once per call); `phone` is
    the operator's number (operator_phone)."""
    already = scene.notified  # empty for a call created now (the scene found none)
    candidates: list[tuple[str, str]] = []  # (user id, phone it was reached by)
    if event.event is _NOTIFY_END or event.event is _NOTIFY_OUT_END:
        seen: set[str] = set()
        if event.event is _NOTIFY_OUT_END and scene.bound_user_id is not None:
            # The dialling operator (the contract's "that user"), even for a call first
            # seen at its end; and, below, every user notified of it: an outgoing call taken
            # over at another phone (a transfer) ends for the operator holding it too, or
            # their card would show the call answered forever.
            seen.add(scene.bound_user_id)
            candidates.append((scene.bound_user_id, phone))
        for row in already:
            if row.user_id is not None and row.user_id not in seen:
                seen.add(row.user_id)
                candidates.append((row.user_id, row.phone))
    else:
        user_id = scene.bound_user_id
        if user_id is not None:
            candidates.append((user_id, phone))
        elif kind is _RINGING_KIND and not (already and any(r.phone == phone
                                                            for r in already)):
            # Remember that the phone rang although nobody is bound to it.
            await tx.insert_call_notified(CallNotified(call.id, phone, None, kind, ctx.now))
    if not candidates:  # (nobody to tell: most new calls, at a phone nobody is bound to)
        return None
    sent = {(r.user_id, r.kind) for r in already}
    recipients = tuple((u, p) for u, p in candidates if (u, kind) not in sent)
    if not recipients:
        return None
    return PendingNotifications(event, kind, call, contact, recipients)


async def _send(tx: Tx, ctx: ActContext, pending: PendingNotifications) -> list[Notification]:
    """Write the notifications (sent live after the commit) and who was told."""
    call_json = to_json(pending.call)
    # The record's `call` data is the script's own, for VoipGetCallLink: it may be a provider's
    # lasting recording link, or carry the provider's credentials. A user is told whether
    # there is a recording (`has_record`) and plays it through the service, which checks that
    # they may (README, "Recordings"); the data itself stays with the builder's API.
    del call_json["record_call"]
    contact_json = to_json(pending.contact)
    notifications = []
    for user_id, phone in pending.recipients:
        notification_id = ids.new_id(ids.NOTIFICATION)
        payload = {
            "id": notification_id, "kind": pending.kind._value_,
            "event": pending.event.event._value_, "module_id": ctx.module_id,
            "call": call_json, "contact": contact_json, "created_at": to_json(ctx.now),
        }
        notification = Notification(notification_id, ctx.tenant_id, user_id, pending.call.id,
                                    pending.kind, payload, ctx.now)
        await tx.insert_notification(notification)
        await tx.insert_call_notified(CallNotified(pending.call.id, phone, user_id,
                                                   pending.kind, ctx.now))
        notifications.append(notification)
    return notifications


# --- call records (§5.3) ----------------------------------------------------------------------


def _activity_data(record: CallRecord, client_raw: str | None, client_normalized: str | None,
                   missed: bool) -> JSON:
    data = {
        "direction": record.direction._value_, "disposition": record.disposition._value_,
        "duration": record.duration, "missed": missed,
        "src_phone": record.src_phone, "src_phone_ext": record.src_phone_ext,
        "dst_phone": record.dst_phone, "dst_phone_ext": record.dst_phone_ext,
        "client_phone": client_raw, "client_phone_normalized": client_normalized,
        "call_id": record.call_id, "call": record.call, "has_record": record.call is not None,
    }
    # Through JSON once, so it compares equal to what the store hands back.
    return json.loads(json.dumps(data))


async def _apply_record(tx: Tx, ctx: ActContext, record: CallRecord
                        ) -> tuple[CallChange, ActivityChange, ContactCreated | None, Recorded]:
    # The record's fields read once (see _numbers).
    direction, disposition, numbers = record.direction, record.disposition, _numbers(record)
    client_raw, client_normalized = _client(ctx, direction, numbers)
    missed = direction is CallDirection.In and disposition is not CallDisposition.Answered
    data = _activity_data(record, client_raw, client_normalized, missed)
    answered = disposition is CallDisposition.Answered
    # For an answered call the operator's binding too: who answered, if no event said.
    operator = _operator(direction, numbers) if answered else None
    scene = await tx.call_scene(_lookup(ctx, record.call_id, numbers, after_end=True,
                                        client_normalized=client_normalized,
                                        operator=operator))
    call, entry = scene.call, scene.activity
    stored = call is not None and entry is not None and (
        entry.data == data or _record_stored(scene, record.to_json()))
    if record.call_id is None and call is not None and call.state is _ENDED \
            and entry is not None and not stored:
        # Without a callId an ended call is found only by its numbers, as a record that
        # follows its end (it has none yet) or a retry (the same). Another record is another
        # call's: a module sending only records (the platform's own example) reports a
        # client's missed call and their call back, which must not overwrite it.
        scene = _no_call(scene)
        call, entry = None, None

    if stored:
        assert call is not None and entry is not None
        await tx.insert_call_event(_history_row(ctx, call, CALL_RECORD_KIND, numbers,
                                                record.to_json(), EventEffect.REPEAT))
        return (CallChange(call.id, False, call.state, call.state, repeat=True, late=False),
                ActivityChange(entry.id, "unchanged", entry.contact_id, call.id), None,
                Recorded(call, scene.contact))

    contact = scene.contact
    created: ContactCreated | None = None
    not_created: ContactNotCreated | None = None
    if contact is None and missed and client_raw is not None and client_normalized is not None:
        if await _room_for_contact(tx, ctx):
            shown = contact_number(client_raw, client_normalized)
            contact = Contact(ids.new_id(ids.CONTACT), ctx.tenant_id, shown,
                              (ContactPhone(shown, client_normalized),), ctx.now)
            await tx.insert_contact(contact)
            created = ContactCreated(contact.id, contact.name, client_normalized)
        else:
            assert ctx.max_contacts is not None
            not_created = ContactNotCreated(client_normalized, ctx.max_contacts)
    if contact is None and client_normalized is not None:
        await tx.still_no_contact(ctx.tenant_id, client_normalized)
    contact_id = contact.id if contact is not None else None

    recorded = {
        "state": CallState.ENDED, "disposition": record.disposition._value_,
        "duration": float(record.duration), "record_call": record.call,
        "has_record": record.call is not None, "updated_at": ctx.now,
    }
    if call is None:
        call = replace(_new_call(ctx, record.call_id, numbers, disposition._value_,
                                 CallState.ENDED, client_raw, client_normalized, contact),
                       **recorded)
        if answered:
            call = _answered_by(call, operator, scene.bound_user_id)
        await tx.insert_call(call)
        change = CallChange(call.id, True, None, call.state, repeat=False, late=False)
    else:
        before = call.state
        call = replace(call, **recorded, ended_at=call.ended_at or ctx.now,
                       provider_call_id=call.provider_call_id or record.call_id,
                       contact_id=call.contact_id or contact_id)
        if answered and call.answered_phone is None:
            call = _answered_by(call, operator, scene.bound_user_id)
        elif not answered and call.answered_phone is not None and not _answer_reported(scene):
            # Who answered was only an earlier record's word, which this one corrects.
            call = _answered_by(call, None, None)
        await tx.update_call(call)
        change = CallChange(call.id, False, before, call.state, repeat=False, late=False)

    if entry is None:
        entry = ActivityEntry(ids.new_id(ids.ACTIVITY), ctx.tenant_id, contact_id, call.id,
                              data, ctx.now, ctx.now)
        await tx.insert_activity(entry)
        action: Literal["created", "updated"] = "created"
    else:
        entry = replace(entry, contact_id=entry.contact_id or contact_id, data=data,
                        updated_at=ctx.now)
        await tx.update_activity(entry)
        action = "updated"
    await tx.insert_call_event(_history_row(ctx, call, CALL_RECORD_KIND, numbers,
                                            record.to_json(), EventEffect.APPLIED))
    return (change, ActivityChange(entry.id, action, entry.contact_id, call.id), created,
            Recorded(call, contact, not_created))


async def _room_for_contact(tx: Tx, ctx: ActContext) -> bool:
    """Whether the tenant may have one more contact (its cap; PostgreSQL: the tenant's cap
    lock is held from this count to COMMIT, runtime/store/locks.py)."""
    if ctx.max_contacts is None:
        return True
    return await tx.count_owned("contacts", ctx.tenant_id) < ctx.max_contacts


# --- storage (§5.5) ---------------------------------------------------------------------------


# Storage writes applied between two turns of the event loop. SQLite's writer runs a unit's
# statements on the loop (runtime/store/sqlite_writer.py) without giving it up: a script's
# 5,000 storage.set calls in one webhook (a second and a half of its wall clock) were 20,000
# statements at once, a quarter of a second of every tenant's webhooks waiting, and a
# longer wall clock or a module's 100,000 keys made it seconds. (Only the writer task uses
# its connection, so a unit may let others run midway; PostgreSQL's statements yield anyway.)
STORAGE_WRITES_PER_TURN = 100


async def _apply_storage(tx: Tx, ctx: ActContext) -> None:
    """Commit the script's storage writes, in order; a limit raises StorageLimitExceeded."""
    for done, write in enumerate(ctx.storage_writes):
        if done and not done % STORAGE_WRITES_PER_TURN:
            await asyncio.sleep(0)
        if write.op == "set":
            await tx.storage_set(ctx.module_id, write.key, write.value,
                                 expires_at=write.expires_at, now=ctx.now,
                                 limits=ctx.storage_limits)
        else:
            await tx.storage_delete(ctx.module_id, write.key)
