"""The worker's walls: a scrubbed environment, resource limits, and where Linux allows an unprivileged process,
no network, no writes outside the worker's own directory and no reads beyond it, Python, torch and the system.

The parent builds the environment (`worker_env`); the worker walls itself in (`isolate`) as its very first act,
while it is still single-threaded and before any submission code is imported. What held is reported in the
run record, because it differs by OS (docs/security.md has the table).
"""

from __future__ import annotations

import ctypes
import os
import site
import sys
import sysconfig
from collections.abc import Iterable
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


def _package_dir() -> Path:
    """The grader package's own folder (wherever this module sits inside it)."""
    return Path(sys.modules[__name__.partition(".")[0]].__file__).resolve().parent


def worker_env(workdir: Path) -> dict:
    """The environment a worker starts with: an allowlist of the parent's, HOME and TMP inside `workdir`."""
    env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
    # The worker imports `grader` from here before it walls itself in; after that the folder's listing is no
    # longer readable (it may hold data/ and tests/), and Python keeps the listing it took (see _prime_imports).
    grader_root = str(_package_dir().parent)
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


def isolate(workdir: Path, timeout: float, limits: Limits = Limits(), readable: Iterable = ()) -> dict:
    """Wall this process in; call while single-threaded, before importing torch or the submission.

    `readable`: files and folders the process may read besides its own directory, Python, torch and the system.
    """
    APPLIED.clear()
    APPLIED["platform"] = sys.platform
    APPLIED["environment"] = "scrubbed (allowlist), HOME and TMPDIR in the worker's directory"
    APPLIED["stdin"] = "closed (/dev/null)"
    off = os.environ.get(DISABLE_VAR, "").lower() in ("0", "off", "no", "false")
    APPLIED["network"] = "not isolated: disabled by COURSE_SANDBOX=off" if off else _drop_network()
    APPLIED["lifetime"] = die_with_parent()  # after the namespace change, which could reset it
    APPLIED["rlimits"] = _set_rlimits(timeout, limits)
    if off:
        APPLIED["filesystem"] = "not confined: disabled by COURSE_SANDBOX=off"
    else:
        APPLIED["filesystem"], tcp_blocked = _landlock(Path(workdir), list(readable))
        if tcp_blocked and not APPLIED["network"].startswith("isolated"):
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
        return {"all": f"unavailable on {sys.platform} (no resource module; the wall-clock timeout still holds)"}
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
    if getattr(os, "geteuid", lambda: -1)() == 0:
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


def die_with_parent() -> str:
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
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_REMOVE_DIR, _FS_REMOVE_FILE = 1 << 4, 1 << 5
_FS_MAKE = sum(1 << i for i in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FS_ON_FILES = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE  # all a rule on a non-directory may hold
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1

# Read (and execute) beneath these, besides Python, torch, the grader's code and the worker's own directory.
SYSTEM_READS = (
    # shared libraries: libc, libstdc++, libgomp, the CUDA driver and runtime
    "/lib", "/lib32", "/lib64", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/local/lib", "/usr/local/lib64",
    "/usr/local/nvidia", "/opt/cuda",
    # the C++ compiler and headers torch.compile and Triton use, and the `ldconfig -p` Triton runs to find libcuda
    "/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/libexec", "/usr/include", "/usr/local/include",
    "/etc", "/usr/share/zoneinfo",  # ld.so.cache, nsswitch.conf, passwd (getpass), localtime
    "/dev", "/proc", "/sys",  # GPU device files; the CPU topology and memory that torch, OpenMP and CUDA read
)
SYSTEM_PREFIXED = (("/usr/local", "cuda"), ("/opt", "rocm"))  # /usr/local/cuda-12.4, /opt/rocm-6.1 ...
LIBRARY_VARS = ("LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "ROCM_PATH")  # folders the parent's libraries live in
_SYSTEM_PREFIXES = ("/", "/usr", "/usr/local")  # a Python installed here: grant its own folders, not the prefix


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
    try:
        syscall = _libc().syscall
    except (OSError, AttributeError):
        return 0
    syscall.restype = ctypes.c_long
    version = syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    return max(int(version), 0)


def _write_access(abi: int) -> int:
    return (_FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE | (_FS_REFER if abi >= 2 else 0)
            | (_FS_TRUNCATE if abi >= 3 else 0))


def _real(path) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def _site_dirs() -> list[str]:
    """The site-packages folders this Python imports from: those on sys.path, the installation's, the user's."""
    dirs = [p for p in sys.path if p and os.path.basename(os.path.normpath(p)) in ("site-packages", "dist-packages")]
    try:
        dirs += site.getsitepackages()  # missing from some old virtualenv builds of site.py
    except AttributeError:
        pass
    dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(dirs))


def _python_reads() -> list[str]:
    """The Python installation and the folders torch and its dependencies import from."""
    reads = [p for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if str(_real(p)) not in _SYSTEM_PREFIXES]
    paths = sysconfig.get_paths()
    reads += [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib", "include", "platinclude") if k in paths]
    if sys.executable:
        reads.append(os.path.dirname(os.path.realpath(sys.executable)))
    reads += _site_dirs()
    try:  # torch from a folder of its own (PYTHONPATH, a source build): where it is, not where it usually is
        import importlib.util

        spec = importlib.util.find_spec("torch")
        reads += [os.path.dirname(p) for p in (spec.submodule_search_locations or [])] if spec else []
    except (ImportError, ValueError):
        pass
    return reads


def _compiler_reads() -> list[str]:
    """Where the C/C++ compiler torch.compile and Triton would run is installed, when not in /usr (e.g. /opt/gcc)."""
    import shutil

    reads = []
    for name in (os.environ.get("CC"), os.environ.get("CXX"), "cc", "c++", "gcc", "g++"):
        found = shutil.which(name) if name else None
        if not found:
            continue
        bindir = os.path.dirname(os.path.realpath(found))
        prefix = os.path.dirname(bindir) if os.path.basename(bindir) == "bin" else bindir
        if prefix in _SYSTEM_PREFIXES or any(prefix.startswith(h) for h in ("/home/", "/root/")):
            prefix = bindir  # /usr/bin is granted anyway; a compiler in a home: only its folder, not the home
        reads.append(prefix)
    return reads


def _system_reads() -> list[str]:
    reads = list(SYSTEM_READS) + _compiler_reads()
    for folder, prefix in SYSTEM_PREFIXED:
        try:
            reads += [os.path.join(folder, name) for name in os.listdir(folder) if name.startswith(prefix)]
        except OSError:
            continue
    for var in LIBRARY_VARS:  # an empty entry means the current folder, which is the worker's own anyway
        reads += [p for p in os.environ.get(var, "").split(os.pathsep) if p]
    return reads


def hidden_paths(workdir: Path) -> tuple[list[Path], list[Path]]:
    """(secret, outside): what no read rule reaches, even where a granted folder holds it.

    Secret: the course's data, tests and solutions, in a checkout and in every installed copy of the grader
    (`pip install .` bundles them in grader/_assets); granted only when `isolate(readable=...)` names them.
    Outside: the homes and temporary folders; a granted folder inside one (a Python under ~/.pyenv, the worker's
    directory in /tmp) stays granted.
    """
    package = _package_dir()
    secret = [package / "_assets"] + [Path(d) / package.name / "_assets" for d in _site_dirs()]
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file():
        secret += [checkout / name for name in ("data", "tests", "solutions")]
    outside = [Path("/home"), Path("/root"), Path("/tmp"), Path("/var/tmp"), Path(workdir).parent]
    try:
        import pwd  # the real home: HOME is the worker's directory by now

        outside.append(Path(pwd.getpwuid(os.getuid()).pw_dir))
    except (ImportError, KeyError, AttributeError):
        pass
    present = lambda paths: [p for p in dict.fromkeys(map(_real, paths)) if p.exists()]  # noqa: E731
    return present(secret), present(outside)


def landlock_rules(workdir: Path, readable: Iterable = (), abi: int | None = None) -> list[tuple[Path, int]]:
    """The (path, access) rules `isolate` gives Landlock; each grants `access` beneath `path`, and nothing else is
    allowed. Reads: the worker's directory, Python and torch, system libraries, /dev /proc /sys /etc, the grader's
    code and `readable`; writes: the worker's directory, device files and the process's own /proc entry."""
    abi = abi or max(landlock_abi(), 1)
    secret, outside = hidden_paths(workdir)
    secret_names = [str(s) for s in secret]
    roots: dict[Path, int] = {}

    def grant(path, access: int, named: bool = False) -> None:
        real = os.path.realpath(os.fspath(path))
        if not os.path.exists(real):
            return
        if not named and any(real == s or real.startswith(s + os.sep) for s in secret_names):
            return  # a library path or prefix that points into the course's data: only `readable` grants that
        roots[Path(real)] = roots.get(Path(real), 0) | access

    for path in _python_reads() + _system_reads() + [_package_dir()]:
        grant(path, _FS_READ)
    device_write = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)
    grant("/dev", _FS_READ | device_write)  # /dev/null, GPU device files
    grant(f"/proc/{os.getpid()}", device_write, named=True)  # the CUDA driver writes there (cudaErrorOperatingSystem
    # without it, seen on an H100); a process's own files only: comm, oom_score_adj ...
    for path in readable:
        grant(path, _FS_READ, named=True)
    grant(workdir, _FS_READ | _write_access(abi), named=True)
    return _plan(roots, secret + outside)


def _plan(roots: dict[Path, int], hidden: list[Path]) -> list[tuple[Path, int]]:
    granted: dict[str, int] = {}  # strings: a bundled install means a few thousand checks, Path compares slowly
    hidden_names = {str(h) for h in hidden}
    for root in sorted(roots, key=lambda p: len(p.parts)):  # outer folders first: what they cover needs no rule
        _grant(str(root), root.is_dir(), roots[root], hidden_names, granted)
    return [(Path(p), access) for p, access in granted.items()]


def _covered(path: str, access: int, granted: dict[str, int]) -> bool:
    while True:
        if granted.get(path, 0) & access == access:
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def _grant(path: str, directory: bool, access: int, hidden: set[str], granted: dict[str, int]) -> None:
    """Grant `access` beneath `path` except beneath `hidden`: Landlock cannot take a subtree back out of a granted
    folder, so a folder that holds a hidden one is granted child by child (and itself cannot be listed)."""
    if not directory:
        access &= _FS_ON_FILES
    if _covered(path, access, granted):
        return
    prefix = path.rstrip(os.sep) + os.sep
    if not directory or not any(h.startswith(prefix) for h in hidden):
        granted[path] = granted.get(path, 0) | access
        return
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.path in hidden or entry.is_symlink():  # a link's target is readable only where a rule grants it
            continue
        _grant(entry.path, entry.is_dir(follow_symlinks=False), access, hidden, granted)


def _prime_imports() -> None:
    """Have Python list every import folder now, while it still may.

    A folder granted child by child (site-packages holding grader/_assets, a checkout holding data/) cannot be
    listed behind the walls. Python's path finder lists a folder once and keeps the names until the folder's
    mtime changes, so what it listed here still imports afterwards.
    """
    from importlib.machinery import PathFinder

    PathFinder.find_spec("_course_prime_imports")  # every sys.path entry
    for module in list(sys.modules.values()):
        try:
            path = getattr(module, "__path__", None)
            if isinstance(path, list):  # packages already imported (grader itself): their submodules come later
                PathFinder.find_spec("_course_prime_imports", path)
        except Exception:  # a lazy module that breaks on attribute access is nothing to import from
            continue


def _landlock(workdir: Path, readable: list) -> tuple[str, bool]:
    """Reads and writes confined (see landlock_rules); TCP and signals kept in. (record text, TCP blocked)."""
    abi = landlock_abi()
    if abi < 1:
        return "not confined: Landlock is unavailable (Linux >= 5.13 with Landlock enabled)", False
    libc = _libc()
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    rules = landlock_rules(workdir, readable, abi)
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(_FS_READ | _write_access(abi), net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24  # the struct grew with the ABI
    _prime_imports()
    ruleset = syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"not confined: landlock_create_ruleset failed ({os.strerror(ctypes.get_errno())})", False
    added = 0
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:  # gone, or not ours to open: then it is not ours to read either
                continue
            try:
                rule = _PathBeneath(access, fd)
                if syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1),  # 1: LANDLOCK_RULE_PATH_BENEATH
                           ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    return f"not confined: landlock_add_rule({path}) failed ({os.strerror(ctypes.get_errno())})", False
                added += 1
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"not confined: prctl(NO_NEW_PRIVS) failed ({os.strerror(ctypes.get_errno())})", False
        if syscall(_SYS_RESTRICT, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"not confined: landlock_restrict_self failed ({os.strerror(ctypes.get_errno())})", False
    finally:
        os.close(ruleset)
    named = [str(_real(p)) for p in readable if _real(p).exists()]
    kept = ", ".join(e for e in (("tcp" if net else ""), ("signals" if scoped else "")) if e)
    text = (f"reads and writes confined (Landlock ABI {abi}, {added} rules): writes to the worker's directory and "
            "device files, reads to it, Python and torch, system libraries, /dev /proc /sys /etc and the grader's code"
            + (f", and to {', '.join(named)}" if named else "") + (f"; {kept} kept in" if kept else ""))
    return text, bool(net)
