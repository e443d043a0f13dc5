"""Data at rest: the data directory and its secrets are the service user's alone, from the
first start and after an older install is fixed; the operator token leaves the environment."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.config import DATABASE_FILE, OPERATOR_TOKEN_FILE, Config, ensure_operator_token
from runtime.store.sqlite import SqliteStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_first_start_is_private_whatever_the_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old_umask = os.umask(0o022)
    try:
        token, generated = ensure_operator_token(Config(data_dir=data_dir))
        store = await SqliteStore.open(data_dir / DATABASE_FILE)
        await store.close()
    finally:
        os.umask(old_umask)
    assert generated and token
    assert mode(data_dir) == 0o700
    assert mode(data_dir / OPERATOR_TOKEN_FILE) == 0o600
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / (DATABASE_FILE + suffix)
        if path.exists():  # -wal/-shm may be gone after a clean close
            assert mode(path) == 0o600, suffix
    assert mode(data_dir / DATABASE_FILE) == 0o600


def test_an_old_install_is_fixed_with_one_log_line(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    files = [data_dir / OPERATOR_TOKEN_FILE, data_dir / DATABASE_FILE,
             data_dir / (DATABASE_FILE + "-wal"), data_dir / (DATABASE_FILE + "-shm"),
             data_dir / (DATABASE_FILE + "-service.lock")]
    for path in files:
        path.write_text("op_existing_token_0123456789\n", encoding="ascii")
        os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="runtime.data_at_rest"):
        token, generated = ensure_operator_token(Config(data_dir=data_dir))
    assert (token, generated) == ("op_existing_token_0123456789", False)
    assert mode(data_dir) == 0o700
    assert all(mode(path) == 0o600 for path in files)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and str(data_dir) in lines[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="runtime.data_at_rest"):
        ensure_operator_token(Config(data_dir=data_dir))
    assert caplog.records == []  # nothing left to fix: no line


async def test_a_database_outside_the_data_directory_is_fixed_with_one_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`storage_url: sqlite:///elsewhere/voip.db` in a directory others may enter: an older
    install's database and its lock file were left readable, the lock file open to any local
    user's `flock`, which stops the service from starting ("another service holds it"); the
    database was tightened without a word."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)
    database = elsewhere / "voip.db"
    old = await SqliteStore.open(database)
    await old.close()
    lock = elsewhere / "voip.db-service.lock"
    lock.write_text("1\n", encoding="ascii")
    for path in (database, lock):
        os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="runtime.data_at_rest"):
        store = await SqliteStore.open(database)
        await store.close()
    assert mode(database) == 0o600
    assert mode(lock) == 0o600
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and str(database) in lines[0] and str(lock) in lines[0], lines


def test_the_operator_token_leaves_the_environment() -> None:
    code = textwrap.dedent(
        """
        import os
        from runtime.config import load_config
        config = load_config(None)
        environ = open(f"/proc/{os.getpid()}/environ", "rb").read()
        print(config.operator_token, "VOIP_RUNTIME_OPERATOR_TOKEN" in os.environ,
              b"s3cr3t-operator-token" in environ)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        env={"VOIP_RUNTIME_OPERATOR_TOKEN": "s3cr3t-operator-token", "PATH": "/usr/bin:/bin"},
    )
    assert completed.stdout.split() == ["s3cr3t-operator-token", "False", "False"]


def test_the_storage_url_and_its_password_leave_the_environment() -> None:
    code = textwrap.dedent(
        """
        import os
        from runtime.config import load_config
        config = load_config(None)
        environ = open(f"/proc/{os.getpid()}/environ", "rb").read()
        print(config.storage_url, "VOIP_RUNTIME_STORAGE_URL" in os.environ,
              b"db-pa55word" in environ)
        """
    )
    url = "postgresql://voip:db-pa55word@db.invalid/voip"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        env={"VOIP_RUNTIME_STORAGE_URL": url, "PATH": "/usr/bin:/bin"},
    )
    assert completed.stdout.split() == [url, "False", "False"]
