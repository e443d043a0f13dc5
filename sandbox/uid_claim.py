"""A host-wide claim on the uids a service's workers run as: two services on one host never
give their workers the same uid.

As root, each worker runs as its own uid from the configured range (pool.py), so that no worker
can signal, trace or read the files of another. Two services started on one host with the same
range (the default, say two nodes of a cluster on one machine) would each hand out its first
uid: a worker of one and a worker of the other, each a different tenant's, as one user.

The claim is a POSIX record lock (`fcntl.lockf`) on the range's bytes of one file,
`/run/voip-runtime/worker-uids.lock`: ranges that overlap conflict whether or not they are
equal, and a lock ends with its process however that ends (nothing to clean up after a crash).
A service whose range is held by another moves to the next range of the same length, and says
so in the log. Record locks belong to a process, not to a file descriptor: one process holds
one claim (the service's pool); a second claim in the same process is not refused (tests).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_PATH = Path("/run/voip-runtime/worker-uids.lock")
# uids stay below 2**31 - 1: the kernel's (uid_t)-1 and anything signed readers may mishandle.
HIGHEST_UID = 2**31 - 2


class UidClaimError(RuntimeError):
    """No range of the wanted length is free between the wanted one and the highest uid."""


class UidClaim:
    """A held claim: `uids` is the range this service's workers may use."""

    def __init__(self, uids: range, fd: int | None) -> None:
        self.uids = uids
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file ends the process's locks on it
            self._fd = None


def claim_uids(wanted: range, path: Path | None = None) -> UidClaim:
    """Claim `wanted` for this process's workers, or the next free range of its length."""
    path = LOCK_PATH if path is None else path
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        log.warning("sandbox: worker uids %d-%d used without a host-wide claim (%s): another "
                    "service on this host must not be given an overlapping range",
                    wanted.start, wanted.stop - 1, error)
        return UidClaim(wanted, None)
    uids = wanted
    while uids.stop - 1 <= HIGHEST_UID:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, len(uids), uids.start)
        except OSError:  # EAGAIN or EACCES: another process holds part of it
            uids = range(uids.stop, uids.stop + len(uids))
            continue
        if uids != wanted:
            log.warning("sandbox: worker uids %d-%d are held by another service on this host; "
                        "this one's workers use %d-%d", wanted.start, wanted.stop - 1,
                        uids.start, uids.stop - 1)
        return UidClaim(uids, fd)
    os.close(fd)
    raise UidClaimError(f"every range of {len(wanted)} worker uids from {wanted.start} on is "
                        "held by other services on this host")
