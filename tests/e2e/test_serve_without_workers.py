"""A service whose sandbox workers cannot start at all on this host: `voip-runtime serve` says
why in one line and exits 1, as it does for an address in use, never a traceback.

Root without CAP_SETUID and CAP_SETGID (a container started with `--cap-drop`, a systemd unit
with a narrower `CapabilityBoundingSet=`): each worker must take its own uid and fails closed
before any tenant code, so no worker is ever ready. The operator used to get an aiohttp
startup traceback ending in `SpawnError`."""

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
