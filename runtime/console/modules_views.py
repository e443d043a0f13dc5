"""Module pages for builders: list and create, and one module's settings, allowlist, region,
member bindings ("load members"), the extensions nobody is bound to, and "test connection"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from runtime.console.session import Session
from runtime.console.web import (
    PREFIX,
    form_of,
    is_htmx,
    modules_shown,
    page,
    render,
    require_builder,
    see_other,
    store_errors,
)
from runtime.contract import CallDirection
from runtime.errors import ApiError, not_found
from runtime.json_body import problem
from runtime.operations import bindings as binding_ops
from runtime.operations import functions
from runtime.operations import modules as module_ops
from runtime.operations.executions import shown_health
from runtime.operations.module_fields import (
    ModulePatchBody,
    NewModuleBody,
    mask,
    unique,
)
from runtime.operations.modules import tenant_module, webhook_url
from runtime.operations.services import services
from runtime.store import Store
from runtime.store.models import CallFilter, Module, User, utc_now
from runtime.store.retention import ModuleHealth
from runtime.typedefs import CONFIG, STORE

routes = web.RouteTableDef()

SEEN_CALLS = 500
# Option elements the user menus of one table may hold in all. Each row of the bindings, loaded
# members and unbound extensions tables carries a menu of every user (up to 500): a module with
# 50,000 bindings (or a VoipGetMembers naming 100,000 members) made a page of gigabytes, built
# in the service's event loop. Rows past the budget are shown without a menu, to bind by hand.
USER_MENU_OPTIONS = 100_000


# Users a menu offers (by name, and every bound one besides). A tenant may have 10,000: the
# others are bound from their own page (the user page's "bind an extension"), as the module
# page says when its menus are cut (`users_cut`).
MENU_USERS = 500


def users_cut(users: Sequence[object]) -> int:
    """How many users the menus list by name when they may leave some out (the first read
    of them was full); 0 when they list every user."""
    return MENU_USERS if len(users) >= MENU_USERS else 0


def menu_rows(users: Sequence[object]) -> int:
    """How many rows of a table get a user menu: every user and "not bound" in each."""
    return USER_MENU_OPTIONS // (len(users) + 1)


async def users_for_menus(store: Store, tenant_id: str, bound_user_ids: Iterable[str]
                          ) -> list[User]:
    """The users the page's menus offer: the first 500 by name, then (by name) every bound
    user `bound_user_ids` names that is not among them. A menu of a bound member must hold its
    user: without it the menu reads "not bound", and saving the form unbinds the member."""
    users = await store.list_users(tenant_id, MENU_USERS, 0)
    listed = {u.id for u in users}
    missing = {user_id for user_id in bound_user_ids if user_id not in listed}
    if missing:  # one read, whatever their number
        found = await store.get_users(tenant_id, sorted(missing))
        users = [*users, *sorted(found.values(), key=lambda u: (u.name, u.id))]
    return users


def problems_of(error: ValidationError) -> list[str]:
    # The API's words (json_body.problem), without pydantic's "Value error, " before ours.
    return [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {problem(e)}"
            for e in error.errors()]


async def owned(request: web.Request, session: Session) -> Module:
    return await tenant_module(services(request), session.tenant_id,
                               request.match_info["module_id"])


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


# --- list and create -------------------------------------------------------------------------


@routes.get(PREFIX + "/modules")
@page
async def modules_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return await render_modules(request, session, deleted="deleted" in request.query)


async def render_modules(request: web.Request, session: Session, *,
                         errors: list[str] | None = None, values: Mapping[str, str] | None = None,
                         deleted: bool = False) -> web.Response:
    store = request.app[STORE]
    modules = await store.list_modules(session.tenant_id, modules_shown(request), 0)
    health = await store.module_health(session.tenant_id, utc_now())
    # Every module's active version number in one read (a read of each version, its source
    # included, was up to 500 statements a page).
    active = await store.active_version_numbers(session.tenant_id)
    rows = [{"module": module,
             "active_number": active.get(module.id) if module.active_version_id else None,
             "health": shown_health(health.get(module.id, ModuleHealth(module.id)), module)}
            for module in modules]
    return render(request, "modules.html", {
        "rows": rows, "errors": errors or [], "values": values or {"region": "RU"},
        "retention": request.app[CONFIG].retention,
        "deleted": deleted,
    }, status=422 if errors else 200)


@routes.post(PREFIX + "/modules")
@page
async def create_module(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    form = await form_of(request, session)
    values = {k: text(form, k) for k in ("name", "description", "region")}
    try:
        body = NewModuleBody.model_validate(
            {"name": values["name"], "description": values["description"],
             "region": values["region"] or "RU"})
    except ValidationError as error:
        return await render_modules(request, session, errors=problems_of(error), values=values)
    try:
        with store_errors():
            module = await module_ops.create_module(services(request), session.tenant_id, body)
    except ApiError as error:
        return await render_modules(request, session, errors=[error.message], values=values)
    raise see_other(f"{PREFIX}/modules/{module.id}")


# --- one module ------------------------------------------------------------------------------


def setting_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


def operator_number(direction: str, src: str, dst: str) -> str:
    return src if direction == CallDirection.Out.value else dst


async def unbound_extensions(request: web.Request, session: Session, module: Module,
                             bound: set[str]) -> list[dict[str, Any]]:
    """Operator numbers seen in this module's calls that no user is bound to."""
    calls = await request.app[STORE].list_calls(
        session.tenant_id, CallFilter(module_id=module.id), SEEN_CALLS, 0)
    seen: dict[str, dict[str, Any]] = {}
    for call in calls:
        number = operator_number(call.direction, call.src_phone, call.dst_phone)
        if number in bound:
            continue
        entry = seen.setdefault(number, {"number": number, "calls": 0,
                                         "last": call.created_at})
        entry["calls"] += 1
    return sorted(seen.values(), key=lambda e: e["number"])


async def render_module(request: web.Request, session: Session, module: Module, *,
                        status: int = 200, typed_settings: list[dict[str, Any]] | None = None,
                        **extra: Any) -> web.Response:
    """The module page; after a refused save, `typed_settings` (or `general_values` in
    `extra`) show the form as it was sent, so nothing typed has to be typed again."""
    store = request.app[STORE]
    bindings = await store.list_bindings(session.tenant_id, module.id) or []
    members = extra.get("members") or []
    users = await users_for_menus(store, session.tenant_id, [
        *(b.user_id for b in bindings), *(m["user_id"] for m in members if m["user_id"])])
    names = {u.id: u.name for u in users}
    bound = {b.member_id for b in bindings}
    active = (await store.get_version(session.tenant_id, module.id, module.active_version_id)
              if module.active_version_id else None)
    settings = [
        {"name": name, "original": name, "secret": name in module.secrets,
         "stored_secret": name in module.secrets, "type": setting_type(value),
         "removed": False,
         "value": "" if name in module.secrets else
         ("true" if value is True else "false" if value is False else str(value))}
        for name, value in module.settings.items()
    ]
    context = {
        "module": module,
        "active": active,
        "webhook_url": webhook_url(request.app[CONFIG], module),
        "settings": settings,
        "bindings": [{"member_id": b.member_id, "user_id": b.user_id,
                      "user_name": names.get(b.user_id)} for b in bindings],
        "users": users,
        "users_cut": users_cut(users),
        "menu_rows": menu_rows(users),
        "user_names": names,
        "unbound": await unbound_extensions(request, session, module, bound),
        "errors": {},
        "notice": request.query.get("saved"),
        "retention": request.app[CONFIG].retention,
        **extra,
    }
    if typed_settings is not None:
        context["settings"] = typed_settings
    return render(request, "module.html", context, status=status)


@routes.get(PREFIX + "/modules/{module_id}")
@page
async def module_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return await render_module(request, session, await owned(request, session))


def read_settings(form: Mapping[str, Any], module: Module
                  ) -> tuple[dict[str, Any], list[str], list[str]]:
    """(settings, secret names, problems) from the settings table's rows."""
    settings: dict[str, Any] = {}
    secrets: list[str] = []
    problems: list[str] = []
    for i in range(setting_rows(form)):
        name = text(form, f"s{i}-name").strip()
        original = text(form, f"s{i}-original")
        if form.get(f"s{i}-remove") or not name:
            continue
        raw = text(form, f"s{i}-value")
        kind = text(form, f"s{i}-type") or "text"
        secret = bool(form.get(f"s{i}-secret"))
        if name in settings:
            problems.append(f"{name}: the name is used twice")
            continue
        stored_name = original or name
        if secret and raw == "" and stored_name in module.secrets \
                and stored_name in module.settings:
            # Left blank: keep the stored secret. The API keeps a secret sent back masked.
            value = module.settings[stored_name]
            settings[name] = value if stored_name != name else mask(value)
            secrets.append(name)
            continue
        if not secret and raw == "" and stored_name in module.secrets:
            # Untick "Secret" with the value left blank: the value is never shown, so it cannot
            # be kept as a plain setting; storing "" instead would lose it without a word.
            problems.append(f"{name}: a secret's value is never shown, so it cannot become a "
                            "plain setting as it is: type the value to keep it as a plain "
                            "setting, or tick Secret again to keep it secret")
            continue
        try:
            settings[name] = typed(raw, kind)
        except ValueError as error:
            problems.append(f"{name}: {error}")
            continue
        if secret:
            secrets.append(name)
    keep_unshown(form, module, settings, secrets)
    return settings, secrets, problems


def keep_unshown(form: Mapping[str, Any], module: Module, settings: dict[str, Any],
                 secrets: list[str]) -> None:
    """Keep, as stored, every setting that is in no row of the form: one added after its page
    was drawn (another tab, a colleague, `voip-runtime deploy`). The table saves the rows it
    showed; a setting it never showed was deleted by it without a word. (A row removed, or
    renamed, names its setting in `sN-original`: that one goes as the form says.)"""
    shown = {text(form, f"s{i}-original") for i in range(setting_rows(form))}
    for name, value in module.settings.items():
        if name in shown or name in settings:
            continue
        if name in module.secrets:
            settings[name] = mask(value)  # the API keeps a secret sent back masked
            secrets.append(name)
        else:
            settings[name] = value


def rows_as_sent(form: Mapping[str, Any], module: Module) -> list[dict[str, Any]]:
    """The settings table's rows as the refused form sent them (the settings template's
    shape). A secret typed into this very form is shown back, masked as it was typed; a stored
    one never is (left blank, it is kept)."""
    rows: list[dict[str, Any]] = []
    for i in range(setting_rows(form)):
        name = text(form, f"s{i}-name").strip()
        original = text(form, f"s{i}-original")
        raw = text(form, f"s{i}-value")
        if not (name or original or raw):
            continue  # the empty "new setting" row: the page adds one again
        kind = text(form, f"s{i}-type")
        rows.append({"name": name, "original": original,
                     "secret": bool(form.get(f"s{i}-secret")),
                     "stored_secret": original in module.secrets,
                     "type": kind if kind in ("text", "number", "boolean") else "text",
                     "removed": bool(form.get(f"s{i}-remove")), "value": raw})
    return rows


def setting_rows(form: Mapping[str, Any]) -> int:
    try:
        return min(int(text(form, "rows") or 0), 300)
    except ValueError:
        return 0


def typed(raw: str, kind: str) -> Any:
    if kind == "number":
        try:
            return int(raw)
        except ValueError:
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{raw!r} is not a number") from None
    if kind == "boolean":
        if raw.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if raw.strip().lower() in ("false", "0", "no", "off", ""):
            return False
        raise ValueError(f"{raw!r} is not true or false")
    return raw


async def apply_patch(request: web.Request, session: Session, module: Module,
                      data: dict[str, Any], section: str, **as_sent: Any) -> web.StreamResponse:
    """Save a section of the module page; refused, the page again with the problems and the
    section's form as it was sent (`as_sent`: render_module's keywords)."""
    try:
        body = ModulePatchBody.model_validate(data)
        with store_errors():
            await module_ops.update_module(services(request), module, body)
    except ValidationError as error:
        return await render_module(request, session, module, status=422,
                                   errors={section: problems_of(error)}, **as_sent)
    except ApiError as error:
        if error.status == 404:
            raise
        return await render_module(request, session, module, status=error.status,
                                   errors={section: [error.message]}, **as_sent)
    raise see_other(f"{PREFIX}/modules/{module.id}?saved={section}#{section}")


@routes.post(PREFIX + "/modules/{module_id}/settings")
@page
async def save_settings(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    settings, secrets, problems = read_settings(form, module)
    as_sent = rows_as_sent(form, module)
    if problems:
        return await render_module(request, session, module, status=422,
                                   errors={"settings": problems}, typed_settings=as_sent)
    return await apply_patch(request, session, module,
                             {"settings": settings, "secrets": secrets}, "settings",
                             typed_settings=as_sent)


@routes.post(PREFIX + "/modules/{module_id}/general")
@page
async def save_general(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    values = {k: text(form, k) for k in ("name", "description", "region", "allowlist")}
    hosts = [line.strip() for line in values["allowlist"].splitlines() if line.strip()]
    return await apply_patch(request, session, module, {
        "name": values["name"], "description": values["description"],
        "region": values["region"], "allowlist": list(unique(hosts)),
    }, "general", general_values=values)


# --- bindings, members, test connection -------------------------------------------------------


@routes.post(PREFIX + "/modules/{module_id}/bindings")
@page
async def save_bindings(request: web.Request) -> web.StreamResponse:
    """Bind several members in one save: fields m{i}-id and m{i}-user ("" unbinds)."""
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    try:
        count = min(int(text(form, "rows") or 0), 10_000)
    except ValueError:
        count = 0
    bindings: dict[str, str | None] = {}
    for i in range(count):
        member = text(form, f"m{i}-id").strip()
        if member and 0 < len(member) <= 64:
            bindings[member] = text(form, f"m{i}-user") or None
    try:
        with store_errors():
            result = await binding_ops.set_bindings(services(request), module, bindings,
                                                    replace=False)
    except ApiError as error:
        return await render_module(request, session, module, status=error.status,
                                   errors={"bindings": [error.message]})
    if result is None:
        raise not_found("module")
    raise see_other(f"{PREFIX}/modules/{module.id}?saved=bindings#bindings")


@routes.post(PREFIX + "/modules/{module_id}/load-members")
@page
async def load_members(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    await form_of(request, session)
    members: list[dict[str, Any]] | None = None
    failure = None
    try:
        with store_errors():
            loaded = await functions.load_members(services(request), module)
        members = [{"id": str(m["id"]), "name": m.get("name"), "user_id": m["user_id"]}
                   for m in loaded.members]
    except ApiError as error:
        failure = error.message
    context: dict[str, Any] = {"members": members, "members_error": failure}
    if is_htmx(request):
        users = await users_for_menus(request.app[STORE], session.tenant_id,
                                      [m["user_id"] for m in members or [] if m["user_id"]])
        return render(request, "_members.html", {
            "module": module, "users": users, "users_cut": users_cut(users),
            "menu_rows": menu_rows(users),
            "user_names": {u.id: u.name for u in users}, **context})
    return await render_module(request, session, module, **context)


@routes.post(PREFIX + "/modules/{module_id}/test-connection")
@page
async def test_connection(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    await form_of(request, session)
    try:
        with store_errors():
            connection = await functions.connection_test(services(request), module)
        data = connection.result
        reason = data.get("failReason") or data.get("fail_reason")
        outcome = {"success": bool(data.get("success")), "reason": reason,
                   "execution_id": connection.execution_id}
    except ApiError as error:
        outcome = {"success": False, "reason": error.message, "execution_id": None}
    if is_htmx(request):
        return render(request, "_test_connection.html", {"module": module, "test": outcome})
    return await render_module(request, session, module, test=outcome)


