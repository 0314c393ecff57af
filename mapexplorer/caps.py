"""The capabilities this process has in effect (``CapEff`` of /proc/self/status), and which of those the
bpf() calls mapexplorer makes need.

The kernel checks capabilities, not the user id: root in a container without CAP_BPF/CAP_SYS_ADMIN is
refused, and a non-root user given both (``setpriv --ambient-caps +bpf,+sys_admin``) is allowed.
``BPF_MAP_GET_FD_BY_ID`` (opening any map by id) needs CAP_SYS_ADMIN; every bpf() command needs
CAP_BPF or CAP_SYS_ADMIN (the kernel's ``bpf_capable()``, with ``unprivileged_bpf_disabled`` set), and
CAP_SYS_ADMIN also covers perf_event_open for perf_event_array readers.

Plain stdlib (no kernel layer, no textual): the CLI, the demos and the UI's permission screen share it.
"""

from __future__ import annotations

CAP_SYS_ADMIN = 21
CAP_BPF = 39
CAP_PERFMON = 38
NAMES = {CAP_SYS_ADMIN: "CAP_SYS_ADMIN", CAP_BPF: "CAP_BPF", CAP_PERFMON: "CAP_PERFMON"}


def effective_caps(status_path: str = "/proc/self/status") -> int:
    """The effective capability set as a bit mask (0 when it cannot be read)."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def missing_caps(mask: int | None = None) -> list[str]:
    """The capabilities mapexplorer needs and this process lacks, by name (empty: all there).

    CAP_SYS_ADMIN is needed to open maps by id; CAP_BPF is named too when neither it nor CAP_SYS_ADMIN
    is there (CAP_SYS_ADMIN alone also passes the kernel's bpf_capable()).
    """
    if mask is None:
        mask = effective_caps()
    missing = []
    if not mask & (1 << CAP_BPF) and not mask & (1 << CAP_SYS_ADMIN):
        missing.append(NAMES[CAP_BPF])
    if not mask & (1 << CAP_SYS_ADMIN):
        missing.append(NAMES[CAP_SYS_ADMIN])
    return missing


def permission_message(missing: list[str]) -> str:
    """One line saying which capabilities are missing and how to get them."""
    return (
        f"needs CAP_BPF and CAP_SYS_ADMIN, and this process lacks {' and '.join(missing)}: run it as root "
        "with them (sudo mapexplorer; a container needs --cap-add BPF --cap-add SYS_ADMIN)"
    )


def explain_refusal(strerror: str | None = None, mask: int | None = None) -> str:
    """A few lines for a screen: why the kernel refuses us and what to do about it."""
    missing = missing_caps(mask)
    if missing:
        return (
            f"This process lacks {' and '.join(missing)} in its effective capabilities, so the kernel "
            "refuses to open BPF maps (BPF_MAP_GET_FD_BY_ID needs CAP_SYS_ADMIN; bpf() needs CAP_BPF or "
            "CAP_SYS_ADMIN).\n\n"
            "Run it as root with those capabilities: sudo mapexplorer. In a container, root needs them "
            "granted (--cap-add BPF --cap-add SYS_ADMIN); a non-root user can be given both "
            "(setpriv --inh-caps +bpf,+sys_admin --ambient-caps +bpf,+sys_admin)."
        )
    reason = strerror or "Operation not permitted"
    return (
        f"The kernel refused bpf(): {reason}, although this process has CAP_BPF and CAP_SYS_ADMIN.\n\n"
        "A Linux security module (SELinux, AppArmor, the lockdown LSM) or a seccomp filter may block "
        "bpf() here: check the kernel log (dmesg) and the container's security profile."
    )
