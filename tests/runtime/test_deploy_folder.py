"""Reading a module folder for `voip-runtime deploy` (runtime/deploy.py): what a builder is
told about a mistake in module.yaml before anything reaches a service."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.deploy import FolderError, read_folder


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
