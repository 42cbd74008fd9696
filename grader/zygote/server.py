"""The zygote: a fork server that imports torch and the grading engine once and forks a fresh child per request.

It runs trusted code only: it never imports a submission, never initialises CUDA (CUDA does not survive a fork)
and never starts torch's thread pools (a fork would lose them). Each child it forks is exactly the process a
cold start would have been: it gets its own three pipes (passed over a Unix socket), a session of its own, a
clean environment, then runs grader.worker's or grader.evaluator's main(), which walls it in first thing, before
the submission is imported. One child never sees another: each is a fresh fork of the zygote, never of a child.

Requests, one per SOCK_SEQPACKET message with the child's stdin, stdout and stderr attached:
    {"module": "grader.worker", "cwd": PATH, "env": {...}}   ->  {"spawned": PID}
and for every child that ends:                                ->  {"exited": PID, "code": EXIT_CODE}
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import tempfile

MODULES = ("grader.worker", "grader.trainer", "grader.evaluator")  # the only programs it forks
_MAX_MESSAGE = 1 << 20


def _warm_up() -> int:
    """Import what every child needs (torch, the exporter, the engine); torch's thread count for the children.

    Imports only: running torch.export here would query CUDA (torch.cuda.is_available), which marks every later
    fork as unable to use CUDA ("Cannot re-initialize CUDA in forked subprocess"); `_fork_is_clean` checks.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # no thread pool in the zygote: a forked child could not use it
    import torch._decomp
    import torch._dynamo  # noqa: F401 - the exporter's machinery: the slowest import a child would pay
    import torch._export.passes  # noqa: F401
    import torch._export.utils  # noqa: F401
    import torch._functorch._aot_autograd  # noqa: F401
    import torch.export  # noqa: F401
    import torch.export._trace  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401
    import torch.fx.passes.shape_prop  # noqa: F401
    import torchsummary  # noqa: F401

    torch._decomp.core_aten_decompositions()  # the table run_decompositions builds: about a third of an export

    import grader.evaluator.main  # noqa: F401
    import grader.interpret  # noqa: F401
    import grader.trainer.main  # noqa: F401
    import grader.trainer.session  # noqa: F401
    import grader.worker.main  # noqa: F401
    import grader.worker.session  # noqa: F401
    return threads


def _fork_is_clean() -> bool:
    """Whether a child forked now could still initialise CUDA (nothing in the zygote touched it)."""
    import torch

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, b"1" if torch._C._cuda_isInBadFork() else b"0")  # type: ignore[attr-defined]
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    return answer == b"0"


def _child(request: dict, fds: list[int], sock: socket.socket, threads: int) -> None:
    """In the forked child: become the requested program, as if started fresh. Never returns."""
    code = 1
    try:
        os.setsid()  # its own session: the parent kills it (and what it starts) as a group
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        sock.close()
        os.closerange(3, _max_fd())
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        sys.dont_write_bytecode = True
        tempfile.tempdir = None  # recomputed from the child's TMPDIR
        sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stdin = os.fdopen(0, "r", encoding="utf-8", closefd=False)
        sys.argv = [request["module"]]
        import torch

        torch.set_num_threads(int(request["env"].get("OMP_NUM_THREADS") or threads))
        if request["module"] == "grader.worker":
            from grader.worker.main import main
        elif request["module"] == "grader.trainer":
            from grader.trainer.main import main
        else:
            from grader.evaluator.main import main
        code = main() or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(code)


def _max_fd() -> int:
    try:
        import resource

        return min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 65536)
    except (ImportError, ValueError, OSError):
        return 4096


def serve(sock: socket.socket, link) -> int:
    """Fork a child per request until the parent closes the socket; report every child's exit."""
    from grader.events import Failed, ZygoteReady

    threads = _warm_up()
    if not _fork_is_clean():  # never serve children that would fail on a GPU
        link.emit(Failed("worker", "the zygote's forks could not use CUDA"))
        return 1
    link.emit(ZygoteReady(os.getpid()))
    children: set[int] = set()
    while True:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                message, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 3)
            except OSError:
                break
            if not message:
                break
            request = json.loads(message)
            if request.get("module") not in MODULES or len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                sock.send(json.dumps({"refused": str(request.get("module"))}).encode())
                continue
            pid = os.fork()
            if pid == 0:
                _child(request, fds, sock, threads)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            sock.send(json.dumps({"spawned": pid}).encode())
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                sock.send(json.dumps({"exited": pid, "code": os.waitstatus_to_exitcode(status)}).encode())
    for pid in children:  # the parent is gone: so are its gradings
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return 0


def main() -> int:
    from grader.channel import ParentLink
    from grader.walls.sandbox import die_with_parent

    link = ParentLink.open()
    die_with_parent()  # the zygote never outlives the grader that started it (and takes its children along)
    raw = link.receive()
    if raw is None:
        return 0
    sock = socket.socket(fileno=int(raw["socket"]))
    try:
        return serve(sock, link)
    finally:
        link.close()
