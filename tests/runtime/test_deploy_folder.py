"""Reading a module folder for `voip-runtime deploy` (runtime/deploy.py): what a builder is
told about a mistake in module.yaml before anything reaches a service."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.deploy import FolderError, module_fields, read_folder


def folder(tmp_path: Path, module_yaml: str) -> Path:
    (tmp_path / "module.yaml").write_text(module_yaml, encoding="utf-8")
    (tmp_path / "script.py").write_text("def VoipParseWebhookRequest(request):\n    return None\n",
                                        encoding="utf-8")
    return tmp_path


def test_a_misspelt_key_is_named_with_the_key_meant(tmp_path: Path) -> None:
    """It said "setings: Extra inputs are not permitted", naming neither the file's keys nor
    the one meant."""
    with pytest.raises(FolderError) as refused:
        read_folder(folder(tmp_path, "name: mango\nsetings:\n  apiKey: k\n"))
    assert str(refused.value) == (
        f"{tmp_path / 'module.yaml'}: setings: is not a module.yaml key; did you mean "
        "settings? (its keys: name, description, region, settings, secrets, allowlist, "
        "bindings)")


def test_an_unknown_key_like_no_other_lists_the_keys(tmp_path: Path) -> None:
    with pytest.raises(FolderError) as refused:
        read_folder(folder(tmp_path, "name: mango\ncolour: red\n"))
    assert str(refused.value).endswith(
        "colour: is not a module.yaml key (its keys: name, description, region, settings, "
        "secrets, allowlist, bindings)")


def test_other_problems_keep_their_place_and_words(tmp_path: Path) -> None:
    with pytest.raises(FolderError) as refused:
        read_folder(folder(tmp_path, "description: x\n"))
    assert str(refused.value) == f"{tmp_path / 'module.yaml'}: name: Field required"


def test_numbers_yaml_1_1_would_read_in_another_base_stay_the_text_written(
        tmp_path: Path) -> None:
    """PyYAML reads YAML 1.1: `0101` was octal, so the extension bound was "65"; a PIN `0123`
    reached the script as 83, an opening hour `10:30` as 630 (base 60), and `2025-03-04` was a
    date the settings refused. Each is what the builder wrote; plain decimals stay numbers."""
    read = read_folder(folder(tmp_path, (
        "name: pbx\n"
        "settings:\n"
        "  pin: 0123\n"
        "  opensAt: 10:30\n"
        "  since: 2025-03-04\n"
        "  trunk: 0x1F\n"
        "  port: 5060\n"
        "  ratio: 1.5\n"
        "  offset: -3\n"
        "  recording: yes\n"
        "bindings:\n"
        "  0101: anna\n"
        "  101: boris\n"
        "  1_02: carl\n")))
    assert read.module.settings == {
        "pin": "0123", "opensAt": "10:30", "since": "2025-03-04", "trunk": "0x1F",
        "port": 5060, "ratio": 1.5, "offset": -3, "recording": True}
    assert read.module.bindings == {"0101": "anna", "101": "boris", "1_02": "carl"}


@pytest.mark.parametrize(("entry", "said"), [
    ("https://api.example.com/v1", "'https://api.example.com/v1': give the host name only, "
                                   "without a scheme"),
    ("api.example.com/v1", "'api.example.com/v1': give the host name only, without a path"),
])
def test_an_allowlist_url_is_refused_saying_to_give_the_host_alone(
        tmp_path: Path, entry: str, said: str) -> None:
    """deploy said "not a host name: 'https://api.example.com/v1'" where `run` and the API say
    what to write instead."""
    module = read_folder(folder(tmp_path, f"name: m\nallowlist: ['{entry}']\n")).module
    with pytest.raises(FolderError) as refused:
        module_fields(module)
    assert str(refused.value) == f"module.yaml: allowlist: {said}"


def test_an_allowlist_host_in_capitals_is_stored_in_lowercase(tmp_path: Path) -> None:
    yaml_text = "name: m\nallowlist: [API.Example.com, api.example.com]\n"
    module = read_folder(folder(tmp_path, yaml_text)).module
    assert module_fields(module)["allowlist"] == ["api.example.com"]


def test_a_name_holding_a_control_character_is_refused_before_the_service_is_asked(
        tmp_path: Path) -> None:
    with pytest.raises(FolderError) as refused:
        read_folder(folder(tmp_path, 'name: "mango\\tpbx"\n'))
    assert str(refused.value) == (
        f"{tmp_path / 'module.yaml'}: name: a name must not hold control characters "
        "(it holds U+0009 at character 6)")
