"""The worker's walls: a scrubbed environment, resource limits, and where Linux allows an unprivileged process,
no network and no writes outside the worker's own directory.

The parent builds the environment (`worker_env`); the worker walls itself in (`isolate`) as its very first act,
while it is still single-threaded and before any submission code is imported. What held is reported in the
run record, because it differs by OS (docs/security.md has the table).
"""

from __future__ import annotations

import ctypes
import os
import site
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import resource  # POSIX only
except ImportError:  # Windows
    resource = None


@dataclass(frozen=True)
class Limits:
    memory_gib: float = 8.0  # address space the worker may add beyond torch's own: MNIST grading needs < 2 GiB
    open_files: int = 1024  # torch and CUDA keep a few dozen open; a cap stops descriptor floods
    file_size_mib: int = 512  # the largest file a worker writes is the exported model (a few MB)
    extra_tasks: int = 512  # processes/threads beyond those already running: stops a fork bomb, not torch's pools
    cpu_grace_s: int = 60  # CPU seconds on top of timeout x cores; the wall-clock timeout is the real limit

    def to_dict(self) -> dict:
        return asdict(self)


# What a worker keeps of the parent's environment: what Python, torch and the GPU drivers need, nothing
# that identifies or authenticates the user (tokens, SSH agents, cloud credentials stay out).
ENV_KEEP = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX",
    "PYTHONHOME", "COURSE_DATA_DIR",
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_HOME", "CUDA_PATH", "CUDA_MODULE_LOADING",
    "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTORCH_CUDA_ALLOC_CONF",
    "PYTORCH_ENABLE_MPS_FALLBACK", "PYTORCH_MPS_HIGH_WATERMARK_RATIO",
    "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "NUMBER_OF_PROCESSORS", "PROCESSOR_ARCHITECTURE",
)
DISABLE_VAR = "COURSE_SANDBOX"  # "off" skips the OS walls (Landlock, network), e.g. to rule them out on an odd GPU box

APPLIED: dict = {}  # what isolate() and limit_memory() put in place in this process, for the run record


def worker_env(workdir: Path) -> dict:
    """The environment a worker starts with: an allowlist of the parent's, HOME and TMP inside `workdir`."""
    env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
    grader_root = str(Path(__file__).resolve().parents[2])
    env.update({
        # The worker imports this very grader, installed or not, and torch from wherever the parent found it.
        "PYTHONPATH": os.pathsep.join(p for p in (grader_root, os.environ.get("PYTHONPATH")) if p),
        "PYTHONUSERBASE": site.getuserbase(),  # HOME moves, but packages installed with --user must still import
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # importing the submission must not leave __pycache__ beside it
        "HOME": str(workdir), "TMPDIR": str(workdir), "TEMP": str(workdir), "TMP": str(workdir),
        "MALLOC_ARENA_MAX": "4",  # glibc reserves address space per thread arena; keeps RLIMIT_AS meaningful
    })
    if os.environ.get(DISABLE_VAR):
        env[DISABLE_VAR] = os.environ[DISABLE_VAR]
    return env


def isolate(workdir: Path, timeout: float, limits: Limits = Limits()) -> dict:
    """Wall this process in; call while single-threaded, before importing torch or the submission."""
    APPLIED.clear()
    APPLIED["platform"] = sys.platform
    APPLIED["environment"] = "scrubbed (allowlist), HOME and TMPDIR in the worker's directory"
    APPLIED["stdin"] = "closed (/dev/null)"
    off = os.environ.get(DISABLE_VAR, "").lower() in ("0", "off", "no", "false")
    APPLIED["network"] = "not isolated: disabled by COURSE_SANDBOX=off" if off else _drop_network()
    APPLIED["lifetime"] = _die_with_parent()  # after the namespace change, which could reset it
    APPLIED["rlimits"] = _set_rlimits(timeout, limits)
    APPLIED["filesystem"] = "not confined: disabled by COURSE_SANDBOX=off" if off else _landlock(workdir)
    if not off and APPLIED["filesystem"].startswith("writes confined") and "tcp" in APPLIED["filesystem"] \
            and not APPLIED["network"].startswith("isolated"):
        APPLIED["network"] = "TCP blocked by Landlock (UDP still open)"
    return dict(APPLIED)


def limit_memory(limits: Limits = Limits()) -> str:
    """Cap the address space at what is mapped now plus `limits.memory_gib`; call after importing torch.

    Not for CUDA: its driver reserves far more address space than it uses. macOS does not enforce the limit.
    """
    if resource is None or sys.platform != "linux" or not hasattr(resource, "RLIMIT_AS"):
        APPLIED.setdefault("rlimits", {})["address_space"] = "not enforced on this OS"
        return APPLIED["rlimits"]["address_space"]
    mapped = _mapped_bytes()
    cap = mapped + int(limits.memory_gib * 2**30)
    try:
        _lower(resource.RLIMIT_AS, cap)
        text = f"{cap / 2**30:.1f} GiB ({limits.memory_gib:g} GiB beyond torch's own)"
    except (ValueError, OSError) as exc:
        text = f"not set: {exc}"
    APPLIED.setdefault("rlimits", {})["address_space"] = text
    return text


# ---------------------------------------------------------------------------------------- resource limits


def _lower(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))  # hard = soft: the submission cannot raise it back


def _set_rlimits(timeout: float, limits: Limits) -> dict:
    if resource is None:
        return {"all": "unavailable on Windows (no resource limits; the wall-clock timeout still holds)"}
    done = {}
    wanted = {
        "cpu_seconds": ("RLIMIT_CPU", int(timeout * (os.cpu_count() or 1)) + limits.cpu_grace_s),
        "open_files": ("RLIMIT_NOFILE", limits.open_files),
        "file_size": ("RLIMIT_FSIZE", limits.file_size_mib * 2**20),
        "core_dumps": ("RLIMIT_CORE", 0),
        "tasks": ("RLIMIT_NPROC", _running_tasks() + limits.extra_tasks),
    }
    for name, (kind, value) in wanted.items():
        if not hasattr(resource, kind):
            done[name] = "not available on this OS"
            continue
        try:
            _lower(getattr(resource, kind), value)
            done[name] = value
        except (ValueError, OSError) as exc:
            done[name] = f"not set: {exc}"
    if os.geteuid() == 0:
        done["tasks"] = f"{done['tasks']} (not enforced for root)"
    return done


def _running_tasks() -> int:
    """Threads running system-wide: an upper bound on this user's, which RLIMIT_NPROC counts."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
    except (OSError, IndexError, ValueError):
        return 4096  # macOS counts processes per user; a few thousand is a normal desktop


def _mapped_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 8 * 2**30


# ---------------------------------------------------------------------------------------- lifetime

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> str:
    """A worker never outlives its grader: if the grading process dies, the kernel kills the worker too."""
    if sys.platform != "linux":
        return "ends on timeout or when its output pipe closes"
    parent = os.getppid()
    if _libc().prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:  # 9: SIGKILL
        return f"not tied to the grader: prctl failed ({os.strerror(ctypes.get_errno())})"
    if os.getppid() != parent:  # the grader died before the tie was made
        os._exit(1)
    return "killed with the grader (PR_SET_PDEATHSIG)"


# ---------------------------------------------------------------------------------------- network

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _drop_network() -> str:
    """A fresh network namespace holds only a loopback that is down: no connection leaves the worker."""
    if sys.platform != "linux":
        return f"not isolated: {sys.platform} lets no unprivileged process drop its network"
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWNET) == 0:  # enough when privileged (root, CAP_SYS_ADMIN)
        return "isolated (new network namespace)"
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        return f"not isolated: no unprivileged user namespaces here ({os.strerror(err)})"
    try:  # keep our own uid/gid inside, so files we create are ours
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as exc:
        return f"isolated (new user and network namespace; id mapping failed: {exc})"
    return "isolated (new user and network namespace)"


# ---------------------------------------------------------------------------------------- Landlock

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # the same on every Linux architecture
_PR_SET_NO_NEW_PRIVS = 38
_FS_WRITE_FILE, _FS_REMOVE_DIR, _FS_REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_FS_MAKE = sum(1 << i for i in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (older kernels, other OSes)."""
    if sys.platform != "linux":
        return 0
    syscall = _libc().syscall
    syscall.restype = ctypes.c_long
    version = syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    return max(int(version), 0)


def _landlock(workdir: Path) -> str:
    """Writes (create, modify, delete) only beneath `workdir` and to device files; TCP and signals kept in."""
    abi = landlock_abi()
    if abi < 1:
        return "not confined: Landlock is unavailable (Linux >= 5.13 with Landlock enabled)"
    libc = _libc()
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    write = _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE
    write |= (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(write, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24  # the struct grew with the ABI
    ruleset = syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"not confined: landlock_create_ruleset failed ({os.strerror(ctypes.get_errno())})"
    try:
        device_write = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)  # /dev/null, GPU device files
        for path, access in ((workdir, write), (Path("/dev"), device_write)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(access, fd)
                added = syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1),  # 1: PATH_BENEATH
                                ctypes.byref(rule), ctypes.c_uint32(0))
                if added != 0:
                    return f"not confined: landlock_add_rule({path}) failed ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"not confined: prctl(NO_NEW_PRIVS) failed ({os.strerror(ctypes.get_errno())})"
        if syscall(_SYS_RESTRICT, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"not confined: landlock_restrict_self failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    extra = [("tcp" if net else ""), ("signals" if scoped else "")]
    kept = ", ".join(e for e in extra if e)
    return f"writes confined to the worker's directory (Landlock ABI {abi})" + (f"; {kept} kept in" if kept else "")
