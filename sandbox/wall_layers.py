"""The OS wall's layers by name, read from a worker's hardening report, for /healthz and
/metrics: which are active on this host and which are missing (the log line gives the why).

The report is the one a fresh worker sends in its "ready", before any tenant code ran in it,
so a breached worker cannot write it. Names are stable labels; the report's lines are prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Every layer a worker may have, in the order the README's table lists them.
NAMESPACE_LAYERS = {"user": "user_namespace", "mount": "mount_namespace",
                    "IPC": "ipc_namespace", "PID": "pid_namespace",
                    "network": "network_namespace", "UTS": "uts_namespace"}
LAYERS = ("seccomp", *NAMESPACE_LAYERS.values(), "minimal_root", "landlock", "identity",
          "cgroup", "no_new_privs")
# The line of the report's active list that says a layer took effect, by its start.
_ACTIVE_PREFIXES = {"seccomp allowlist": "seccomp", "minimal root:": "minimal_root",
                    "landlock ABI": "landlock", "identity:": "identity", "cgroup:": "cgroup",
                    "no_new_privs": "no_new_privs"}


def layer_states(report: Mapping[str, object]) -> dict[str, bool]:
    """Each of LAYERS: True when the report's active list says it took effect."""
    states = dict.fromkeys(LAYERS, False)
    active = report.get("active")
    for line in active if isinstance(active, Sequence) else ():
        if not isinstance(line, str):
            continue
        if line.startswith("namespaces: "):
            # "namespaces: user, mount, IPC, PID, network, UTS (mount, network and UTS ...)"
            for name in line[len("namespaces: "):].split(" (", 1)[0].split(", "):
                if name in NAMESPACE_LAYERS:
                    states[NAMESPACE_LAYERS[name]] = True
            continue
        for prefix, layer in _ACTIVE_PREFIXES.items():
            if line.startswith(prefix):
                states[layer] = True
    return states


def exposed(report: Mapping[str, object]) -> bool:
    """Whether the layers that cover for one another are all missing (the log warns of it)."""
    lines = report.get("exposed")
    return bool(lines) and isinstance(lines, Sequence)
