"""Two services on one host never give their workers the same uid: each claims its range
host-wide (sandbox/uid_claim.py) and one whose range is held moves to the next free one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Call, Limits, RequestData, SandboxPool, uid_claim
from sandbox.uid_claim import UidClaimError, claim_uids

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from pathlib import Path
from sandbox.uid_claim import claim_uids
claim = claim_uids(range(int(sys.argv[2]), int(sys.argv[3])), Path(sys.argv[1]))
print(claim.uids.start, claim.uids.stop, flush=True)
sys.stdin.read()  # hold it until the test closes our stdin
"""


class Holder:
    """Another service's process holding a claim (a lock belongs to a process)."""

    def __init__(self, path: Path, uids: range) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), str(uids.start), str(uids.stop)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        start, stop = self.process.stdout.readline().split()
        self.uids = range(int(start), int(stop))

    def end(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def holders(tmp_path: Path) -> Iterator[list[Holder]]:
    made: list[Holder] = []
    yield made
    for holder in made:
        if holder.process.poll() is None:
            holder.end()


def test_a_range_held_by_another_service_moves_this_one_to_the_next_free_range(
    tmp_path: Path, holders: list[Holder],
) -> None:
    path = tmp_path / "locks" / "worker-uids.lock"
    holders.append(Holder(path, range(300000, 300008)))
    assert holders[0].uids == range(300000, 300008)

    mine = claim_uids(range(300000, 300008), path)
    assert mine.uids == range(300008, 300016)
    # Not only an equal range conflicts: one that overlaps the holder's moves on too.
    holders.append(Holder(path, range(300004, 300012)))
    # (300012-300019 would overlap this process's 300008-300015 in turn.)
    assert holders[1].uids == range(300020, 300028)
    mine.release()

    # A claim ends with its process, however it ends.
    holders[0].process.kill()
    holders[0].process.wait(timeout=10)
    again = claim_uids(range(300000, 300008), path)
    assert again.uids == range(300000, 300008)
    again.release()


def test_no_free_range_below_the_highest_uid_is_an_error(
    tmp_path: Path, holders: list[Holder],
) -> None:
    path = tmp_path / "worker-uids.lock"
    top = uid_claim.HIGHEST_UID + 1
    holders.append(Holder(path, range(top - 8, top)))
    with pytest.raises(UidClaimError, match="held by other services"):
        claim_uids(range(top - 8, top), path)


@pytest.mark.skipif(os.geteuid() != 0, reason="workers get uids of their own only as root")
async def test_a_pool_whose_uids_another_service_holds_gives_its_workers_others(
    tmp_path: Path, holders: list[Holder], monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "worker-uids.lock"
    monkeypatch.setattr(uid_claim, "LOCK_PATH", path)
    holders.append(Holder(path, range(63200, 63208)))
    call = Call(source="def VoipParseWebhookRequest(request):\n    return {}\n",
                function="VoipParseWebhookRequest", request=RequestData())
    async with SandboxPool(size=2, limits=Limits(wall_seconds=20), spare_workers=1,
                           max_workers=4, worker_uids=range(63200, 63208)) as pool:
        for group in ("a", "b", "c"):
            assert (await pool.run(call, group=group)).ok
        # The workers that served the calls (a spare just forked may not have dropped root yet).
        uids = {_real_uid(worker.pid) for worker in pool.workers() if worker.group is not None}
        assert uids and uids <= set(range(63208, 63216)), uids


def _real_uid(pid: int) -> int:
    """The process's real uid, as the kernel reports it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")
