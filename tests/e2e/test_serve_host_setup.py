"""A host set up so that the service cannot start: `voip-runtime serve` says why in one line and
exits 1, as it does for an address in use, never a traceback.

A normal user started where it may not write (a systemd unit's `WorkingDirectory=/`, a
read-only home) with the default `data_dir: ./data`: it ended in a `PermissionError` traceback.

Sandbox workers that cannot start at all: root without CAP_SETUID and CAP_SETGID (a container
started with `--cap-drop`, a systemd unit with a narrower `CapabilityBoundingSet=`): each
worker must take its own uid and fails closed before any tenant code, so no worker is ever
ready. The operator used to get an aiohttp startup traceback ending in `SpawnError`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.crash_support import free_port
from tests.e2e.service_process import service_config

ROOT = Path(__file__).resolve().parents[2]
VENV_SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
    / "site-packages"
SYSTEM_PYTHON = "/usr/bin/python3.11"
NORMAL_UID = 4243


def test_a_normal_user_where_it_may_not_write_says_so_in_one_line() -> None:
    """No configuration, started in `/`: the data directory would be /data."""
    if os.geteuid() == 0:  # play a normal user, with a Python it can run
        if not os.path.exists(SYSTEM_PYTHON):
            pytest.skip(f"{SYSTEM_PYTHON} is needed to run as a normal user")
        python = SYSTEM_PYTHON
        prelude = f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(VENV_SITE)!r}]; "
        as_user: dict[str, object] = {"user": NORMAL_UID, "group": NORMAL_UID,
                                      "extra_groups": []}
    else:
        python, prelude, as_user = sys.executable, "import sys; ", {}
    if os.access("/", os.W_OK) and not as_user:
        pytest.skip("this user may write in /")
    done = subprocess.run(
        [python, "-I", "-c", prelude + "from runtime.cli import main; sys.exit(main())",
         "serve", "--port", str(free_port())],
        capture_output=True, text=True, timeout=120, check=False, cwd="/",
        env={"PATH": "/usr/bin:/bin"}, **as_user)  # type: ignore[call-overload]
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "voip-runtime: cannot prepare the data directory /data: Permission denied (set "
        "data_dir: in a --config file to a directory this user may write)"), done.stderr
    assert not os.path.exists("/data")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root (to drop CAP_SETUID from it) and util-linux's setpriv")
def test_root_without_setuid_says_in_one_line_why_no_worker_starts(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(service_config(tmp_path / "data", free_port())))
    done = subprocess.run(
        ["setpriv", "--bounding-set=-setuid,-setgid", "--inh-caps=-setuid,-setgid", "--",
         sys.executable, "-m", "runtime", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("voip-runtime: no sandbox worker can start, so no script can run: "
                           "a new sandbox worker could not harden itself"), done.stderr
    assert "identity: cannot become uid" in last
    # What to do about it, in the same line.
    assert "CAP_SETUID" in last and "normal user" in last, last
