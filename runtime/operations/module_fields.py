"""What a module's fields may hold, and the bodies that create and change a module: shared by
the API and the console's forms, so both refuse the same values with the same words. Secret
settings are shown masked, and a masked value sent back keeps the stored secret.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import phonenumbers
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from runtime.errors import ApiError
from runtime.fetcher import normalize_host
from runtime.json_body import Body
from runtime.openapi.models import NAME_SCHEMA, PLAIN_NAME, REGION_SCHEMA
from runtime.store.models import Module, ModulePatch, SettingValue

MAX_SETTINGS = 200
MAX_SETTING_NAME = 100
MAX_SETTING_TEXT = 8 * 1024
MAX_ALLOWLIST = 100
MASK = "••••"


# --- field types shared by request bodies ------------------------------------------------------


def check_region(value: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not an ISO 3166 region code phone numbers are known for "
                         "(such as RU, DE, US)")
    return region


def json_kind(value: dict[str, Any] | list[Any] | None) -> str:
    """What a refused setting is, in JSON's words (the client sent JSON, not Python)."""
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "null"


def check_settings(value: dict[str, Any]) -> dict[str, SettingValue]:
    if len(value) > MAX_SETTINGS:
        raise ValueError(f"at most {MAX_SETTINGS} settings")
    for name, item in value.items():
        if not name.strip() or len(name) > MAX_SETTING_NAME:
            raise ValueError(f"setting names are 1..{MAX_SETTING_NAME} characters: {name!r}")
        if isinstance(item, dict | list) or item is None:
            raise ValueError(f"setting {name!r} must be a string, number or boolean "
                             f"(settings are a flat object), not {json_kind(item)}")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"setting {name!r} must be a finite number")
        if isinstance(item, str) and len(item) > MAX_SETTING_TEXT:
            raise ValueError(f"setting {name!r} is longer than {MAX_SETTING_TEXT} characters")
    return value


SETTINGS_SCHEMA = WithJsonSchema({
    "type": "object",
    "maxProperties": MAX_SETTINGS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_SETTING_NAME, "pattern": r"\S"},
    "additionalProperties": {"anyOf": [
        {"type": "string", "maxLength": MAX_SETTING_TEXT}, {"type": "number"}, {"type": "boolean"},
    ]},
    "description": "a flat object: strings, numbers and booleans",
})


def check_host(entry: str) -> str:
    """An allowlist entry: a bare host name (IDNA ok) or `*.domain`; stored in ASCII form."""
    if "://" in entry:
        raise ValueError(f"{entry!r}: give the host name only, without a scheme")
    if "/" in entry or "?" in entry or "#" in entry:
        raise ValueError(f"{entry!r}: give the host name only, without a path")
    if entry != entry.lower():
        raise ValueError(f"{entry!r}: host names are written in lowercase ({entry.lower()!r})")
    host = normalize_host(entry)
    name = host.removeprefix("*.")
    if len(name) > 253 or any(len(label) > 63 for label in name.split(".")):
        raise ValueError(f"{entry[:80]!r}: not a host name (a name is at most 253 characters, "
                         "each part between dots at most 63)")
    if host.startswith("*.") and "." not in host[2:]:
        raise ValueError(f"{entry!r}: a wildcard must stand below a domain, "
                         "such as *.example.com")
    return host


HOST_SCHEMA = WithJsonSchema({
    "type": "string",
    "pattern": r"^(\*\.(?=[a-z0-9-]+\.))?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
               r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    "maxLength": 253,
    "description": "a host name in lowercase (`api.example.com`), or `*.` and a domain below "
                   "which any host is allowed (`*.example.com`); an IDNA name or an IP "
                   "literal is accepted too",
    "examples": ["api.example.com"],
})


def unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 PLAIN_NAME, NAME_SCHEMA]
Description = Annotated[str, StringConstraints(max_length=2000)]
Region = Annotated[str, AfterValidator(check_region), REGION_SCHEMA]
Settings = Annotated[dict[str, Any], AfterValidator(check_settings), SETTINGS_SCHEMA]
Host = Annotated[str, AfterValidator(check_host), HOST_SCHEMA]
Allowlist = Annotated[list[Host], Field(max_length=MAX_ALLOWLIST)]
SecretNames = Annotated[list[str], Field(max_length=MAX_SETTINGS)]


class NewModuleBody(Body):
    name: Name
    description: Description = ""
    region: Region = "RU"
    settings: Settings = Field(default_factory=dict)
    secrets: SecretNames = Field(default_factory=list)
    allowlist: Allowlist = Field(default_factory=list)


class ModulePatchBody(Body):
    name: Name | None = None
    description: Description | None = None
    region: Region | None = None
    settings: Settings | None = None
    secrets: SecretNames | None = None
    allowlist: Allowlist | None = None


def check_secrets(secrets: tuple[str, ...], settings: Mapping[str, SettingValue]) -> None:
    missing = [name for name in secrets if name not in settings]
    if missing:
        problems = [{"field": "secrets", "message": f"{name!r} is not one of the settings"}
                    for name in missing]
        raise ApiError(422, "invalid", f"secrets: {problems[0]['message']}", details=problems)


# --- masked secrets -----------------------------------------------------------------------------


def mask(value: SettingValue) -> str:
    text = str(value)
    return MASK + text[-2:] if len(text) > 8 else MASK + "••"


def masked_settings(module: Module) -> dict[str, SettingValue]:
    secret = set(module.secrets)
    return {name: mask(value) if name in secret else value
            for name, value in module.settings.items()}


def kept_secrets(module: Module, settings: Mapping[str, SettingValue]
                 ) -> dict[str, SettingValue]:
    """New settings where a secret sent back masked (as GET showed it) keeps its stored value."""
    stored = module.settings
    return {
        name: stored[name]
        if name in module.secrets and name in stored and value == mask(stored[name])
        else value
        for name, value in settings.items()
    }


def module_patch(module: Module, body: ModulePatchBody) -> ModulePatch:
    settings = None if body.settings is None else kept_secrets(module, body.settings)
    secrets = None if body.secrets is None else unique(body.secrets)
    check_secrets(secrets if secrets is not None else module.secrets,
                  settings if settings is not None else module.settings)
    return ModulePatch(
        name=body.name, description=body.description, region=body.region, settings=settings,
        secrets=secrets, allowlist=None if body.allowlist is None else unique(body.allowlist),
    )
