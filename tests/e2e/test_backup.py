"""`voip-runtime backup` while webhooks flow, `voip-runtime restore` into a new data directory,
and a service started on it serves everything acknowledged before the backup began."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import aiohttp

from tests.e2e.service_process import ServiceProcess, call_json, flowing_webhooks, seed_tenant


async def cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_backup_under_load_restores_everything_acknowledged_before_it(
        tmp_path: Path) -> None:
    original = ServiceProcess(tmp_path)
    original.start()
    backup_file = tmp_path / "backups" / "voip.db"
    backup_file.parent.mkdir()
    try:
        await original.wait_ready()
        async with aiohttp.ClientSession() as session:
            tenant = await seed_tenant(session, original.base)
            async with flowing_webhooks(tenant, session, 4, 100):
                before = set(tenant.acknowledged)
                code, output = await cli("backup", str(backup_file), "--config",
                                         str(original.config_file))
                during = len(tenant.acknowledged) - len(before)
            assert code == 0, output
            assert during > 0, "webhooks were not flowing while the backup ran"
            assert backup_file.stat().st_mode & 0o777 == 0o600
            assert list(backup_file.parent.iterdir()) == [backup_file]  # no partial left
            # A second backup to the same name is refused, the first left alone.
            code, output = await cli("backup", str(backup_file), "--config",
                                     str(original.config_file))
            assert code == 1 and "exists" in output, output
    finally:
        original.stop()

    restored = ServiceProcess(tmp_path, data_dir=tmp_path / "restored")
    code, output = await cli("restore", str(backup_file), "--config",
                             str(restored.config_file))
    assert code == 0, output
    assert (restored.data_dir / "voip-runtime.db").stat().st_mode & 0o777 == 0o600
    code, output = await cli("restore", str(backup_file), "--config",
                             str(restored.config_file))
    assert code == 1 and "not empty" in output, output

    restored.start()
    try:
        await restored.wait_ready()
        async with aiohttp.ClientSession() as session:
            restored_tenant = tenant
            restored_tenant.base = restored.base
            stored = await restored_tenant.stored_calls(session)
            missing = before - stored
            assert not missing, f"{len(missing)} calls acknowledged before the backup lost"
            contacts = await call_json(session, "GET", restored_tenant.api + "/contacts",
                                       tenant.key)
            assert tenant.contact["id"] in {c["id"] for c in contacts["contacts"]}
            modules = await call_json(session, "GET", restored_tenant.api + "/modules",
                                      tenant.key)
            [module] = modules["modules"]
            assert module["id"] == tenant.module["id"]
            assert module["active_version"]
            # The restored service takes webhooks on the module's old token.
            assert module["webhook_url"].split("/hooks/")[1] == tenant.hook.split("/hooks/")[1]
            restored_tenant.module = module
            status, _, text = await restored_tenant.send(session, "after-restore")
            assert status == 200, text
    finally:
        restored.stop()


async def test_restore_refuses_what_is_not_a_database_of_ours(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path, data_dir=tmp_path / "data")
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_bytes(b"these are not the pages you are looking for" * 100)
    code, output = await cli("restore", str(not_a_db), "--config", str(service.config_file))
    assert code == 1 and "not a" in output, output
    foreign = tmp_path / "foreign.db"
    with contextlib.closing(__import__("sqlite3").connect(foreign)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    code, output = await cli("restore", str(foreign), "--config", str(service.config_file))
    assert code == 1 and "not a voip-runtime database" in output, output
    assert not service.data_dir.exists()


async def test_backup_of_a_postgresql_deployment_points_to_pg_dump(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path, storage_url="postgresql://voip@db.invalid/voip")
    for command in ("backup", "restore"):
        code, output = await cli(command, str(tmp_path / "x.db"), "--config",
                                 str(service.config_file))
        assert code == 1 and "pg_dump" in output, output


async def test_a_backup_into_a_missing_directory_names_that_directory(tmp_path: Path) -> None:
    # It said "backup failed: [Errno 2] No such file or directory: '.../.a.db.partial-1234'",
    # naming a file of its own the operator never asked for.
    service = ServiceProcess(tmp_path, data_dir=tmp_path / "data")
    service.data_dir.mkdir()
    (service.data_dir / "voip-runtime.db").write_bytes(b"")
    target = tmp_path / "missing" / "a.db"
    code, output = await cli("backup", str(target), "--config", str(service.config_file))
    assert (code, output) == (
        1, f"voip-runtime backup: no directory {target.parent} to write a.db into\n")


async def test_a_backup_removes_what_killed_backups_left(tmp_path: Path) -> None:
    """A backup killed before its end (a cron job's timeout, a reboot) left its partial copy,
    as large as the database, and each such run one more, for good."""
    from runtime.store import SqliteStore

    service = ServiceProcess(tmp_path, data_dir=tmp_path / "data")
    service.data_dir.mkdir(mode=0o700)
    store = await SqliteStore.open(service.data_dir / "voip-runtime.db")
    await store.close()
    backups = tmp_path / "backups"
    backups.mkdir()
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    database = (service.data_dir / "voip-runtime.db").read_bytes()
    killed = backups / f".voip-2026-12-06.db.partial-{gone.pid}"
    killed.write_bytes(database)
    killed_at_once = backups / f".voip-2026-12-05.db.partial-{gone.pid}"  # before it copied
    killed_at_once.write_bytes(b"")
    running = backups / f".other.db.partial-{os.getpid()}"  # a backup still running
    running.write_bytes(database)
    not_ours = backups / f".notes.partial-{gone.pid}"
    not_ours.write_text("an operator's own file", encoding="utf-8")

    code, output = await cli("backup", str(backups / "voip-2026-12-07.db"),
                             "--config", str(service.config_file))

    assert code == 0, output
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        ["voip-2026-12-07.db", running.name, not_ours.name])
