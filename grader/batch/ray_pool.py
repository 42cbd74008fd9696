"""Run a batch's jobs on a Ray cluster: each grading is a Ray task that asks for 1/K of a GPU, or for a CPU.

A task carries the submission's bytes (never a path: the nodes do not share the head's disk), writes them into a
temporary folder on its node and grades them there with grader.batch.job.grade_job: the same sandboxed worker
and clean evaluator as on one machine, MNIST from the course installed on the node. It returns its result; the
head, the only process that writes the gradebook, records it. A task whose node dies is run again elsewhere by Ray
and still returns one result, so every grading is recorded once. Ray is an optional extra: pip install -e ".[ray]".
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from grader.batch.job import JobSpec
from grader.batch.pool import Pool
from grader.errors import UsageError
from grader.events import TASK_KINDS, BatchEvent, EventError, JobRetried, JobShown, JobStarted, Progress, parse

INSTALL_HINT = 'pip install -e ".[ray]"'
MAX_RETRIES = 2  # a task whose node or Ray worker dies runs again; a grading itself never kills its Ray worker
CPUS_PER_JOB = 1  # see RayPool: one core per grading, and torch on one thread
POLL_S = 0.5  # how often the head looks for finished tasks and progress events
STOP_GRACE_S = 10.0  # after Ctrl-C, how long to wait for results that were already on their way
PROGRESS_EVERY_S = 2.0  # a task forwards at most one per-step progress event this often (start and epochs always)
LOCAL_OBJECT_STORE = 256 * 2**20  # a local cluster moves KB-sized files and records; Ray's default takes 30 % of RAM


def require_ray():
    """The ray module, or a UsageError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError(f"--backend ray needs Ray, which is not installed ({exc}); install it with {INSTALL_HINT} "
                         f"on this machine and on every node of the cluster") from exc
    return ray


def ray_devices(devices: list[str] | None, address: str | None) -> tuple[str | None, int | None]:
    """--devices for a cluster this batch starts: (CUDA_VISIBLE_DEVICES for it, its GPU count); (None, None): all."""
    if not devices:
        return None, None
    if address:
        raise UsageError("--devices picks GPUs of this machine; a cluster's nodes offer the GPUs they were started "
                         "with (e.g. CUDA_VISIBLE_DEVICES=0,1 ray start ...); drop --devices or --address")
    if devices == ["cpu"]:
        return "", 0
    ids = []
    for device in devices:
        kind, _, index = device.partition(":")
        if kind != "cuda" or not index.isdigit():
            raise UsageError(f"--devices {device}: with --backend ray use cpu or cuda:N,cuda:M (Ray schedules CUDA "
                             f"GPUs and CPUs; use --backend local for mps)")
        ids.append(index)
    return ",".join(dict.fromkeys(ids)), len(set(ids))


@dataclass
class _Capacity:
    nodes: int
    cpus: float
    gpus: float
    jobs: int  # gradings the cluster can run at a time


class RayPool:
    """Gradings as Ray tasks on a cluster: joined ("auto", HOST:PORT) or started here (address None).

    A task asks for 1/`per_gpu` of a GPU when the cluster has GPUs, so `per_gpu` tiny gradings share a card, and
    for `cpus_per_job` CPUs (default 1) either way: each grading keeps about one core busy (its training loop,
    which drives the GPU or runs torch on one thread, a tiny CNN training more per core on one thread than on
    several), so a node runs as many as it has cores and never oversubscribes them. `jobs` caps the tasks in flight.
    """

    def __init__(self, address: str | None = None, per_gpu: int = 1, *, jobs: int | None = None,
                 devices: list[str] | None = None, cpus_per_job: int = CPUS_PER_JOB, max_retries: int = MAX_RETRIES):
        if per_gpu < 1 or cpus_per_job < 1 or (jobs is not None and jobs < 1):
            raise UsageError("--per-gpu and --jobs must be at least 1")
        self.address = address or None
        self.per_gpu = per_gpu
        self.jobs = jobs
        self.cuda_visible, self.num_gpus = ray_devices(devices, self.address)
        self.cpus_per_job = cpus_per_job
        self.max_retries = max_retries
        self._ray = require_ray()
        self._owned = False  # whether this pool connected (and so disconnects, or stops the cluster it started)
        self._capacity: _Capacity | None = None

    # ------------------------------------------------------------------------------------------- cluster

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return  # a caller (a notebook, a test) connected already: use that cluster, leave it up afterwards
        # an offline course sends no usage statistics
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}
        if self.address:
            _answers(self.address)
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                self._start_local(options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            hint = (" (start one with `ray start --head`, or leave out --address to start one here; a cluster with "
                    "token authentication also needs RAY_AUTH_MODE=token and its token on this machine)"
                    if self.address else "")
            raise UsageError(f"cannot connect to {where}: {str(exc).strip()}{hint}") from exc
        self._owned = True

    def _start_local(self, options: dict) -> None:
        ray = self._ray
        root = str(Path(__file__).resolve().parents[2])  # Ray workers must import this very grader, installed or not
        pythonpath = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        saved = os.environ.get("CUDA_VISIBLE_DEVICES")
        if self.cuda_visible is not None:  # Ray reads the GPUs a node may use from its starting environment
            os.environ["CUDA_VISIBLE_DEVICES"] = self.cuda_visible
        try:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, num_gpus=self.num_gpus,
                     object_store_memory=LOCAL_OBJECT_STORE, runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
                     **options)
        finally:
            if self.cuda_visible is not None:
                if saved is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = saved

    def _disconnect(self) -> None:
        if self._owned:
            self._ray.shutdown()  # stops the local cluster this pool started; leaves a joined one running
            self._owned = False

    def capacity(self) -> _Capacity:
        """What the cluster offers now and how many gradings it runs at a time."""
        self._connect()
        nodes = [n for n in self._ray.nodes() if n.get("Alive")]
        cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
        gpus = sum(n["Resources"].get("GPU", 0) for n in nodes)
        jobs = 0
        for node in nodes:
            res = node["Resources"]
            by_cpu = int(res.get("CPU", 0) // self.cpus_per_job)
            jobs += min(by_cpu, int(res.get("GPU", 0) * self.per_gpu)) if gpus else by_cpu
        if self.jobs:
            jobs = min(jobs, self.jobs)
        self._capacity = _Capacity(len(nodes), cpus, gpus, jobs)
        return self._capacity

    def describe(self) -> tuple[list[str], int]:
        """(devices, jobs at a time), for the batch's first line."""
        cap = self.capacity()
        where = f"Ray, {cap.nodes} node{'s' * (cap.nodes != 1)}"
        if cap.gpus:
            return [f"{where}: {cap.gpus:g} GPU(s), {self.per_gpu} grading(s) per GPU"], cap.jobs
        return [f"{where}: {cap.cpus:g} CPU(s)"], cap.jobs

    def _task(self):
        """The remote grading function with this batch's resource request."""
        cap = self._capacity or self.capacity()
        request: dict[str, float] = {"num_cpus": self.cpus_per_job}
        if cap.gpus:
            request["num_gpus"] = 1 / self.per_gpu
        return self._ray.remote(_grade_on_node).options(max_retries=self.max_retries, retry_exceptions=False,
                                                        name="course-grading", **request)

    # ---------------------------------------------------------------------------------------------- batch

    def run(self, specs: list[JobSpec], emit: Callable[[BatchEvent], None],
            on_result: Callable[[JobSpec, dict[str, Any]], None]) -> bool:
        """Run every job as a task; `on_result(spec, result)` as each ends. True when Ctrl-C stopped the batch."""
        if not specs:
            self._disconnect()
            return False
        from grader.batch.local_pool import sigterm_is_ctrl_c

        ray = self._ray
        restore = sigterm_is_ctrl_c()
        self._connect()
        inflight: dict = {}
        events = None
        try:
            import grader

            events = _events_actor(ray)
            task = self._task()
            threads = self.cpus_per_job
            pending = list(specs)
            relay = _Relay(ray, events, emit)
            try:
                while pending or inflight:
                    while pending and (self.jobs is None or len(inflight) < self.jobs):
                        spec = pending.pop(0)
                        data = _read_submission(spec)
                        if isinstance(data, dict):
                            on_result(spec, data)
                            continue
                        inflight[task.remote(spec.to_dict(), data, events, grader.__version__, threads)] = spec
                    if not inflight:
                        continue
                    ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=POLL_S)
                    relay.pump()
                    for ref in ready:
                        spec = inflight.pop(ref)
                        result = _outcome(ray, ref, self.max_retries)
                        relay.finish(spec)
                        on_result(_placed(spec, result), result)
                return False
            except KeyboardInterrupt:
                self._stop(inflight, relay, on_result)
                return True
        finally:
            restore()
            if inflight:
                for ref in inflight:
                    ray.cancel(ref, force=True)
            if events is not None:
                try:
                    ray.kill(events)
                except Exception:  # noqa: BLE001 - the cluster may be gone already
                    pass
            self._disconnect()

    def _stop(self, inflight: dict, relay: _Relay, on_result) -> None:
        """Ctrl-C: keep what finished, kill the running tasks (their gradings' worker and evaluator die with them).

        A gentle ray.cancel would raise KeyboardInterrupt in the task only when its grading next wakes up, which a
        hanging submission may never make happen; a forced one kills the task's Ray worker at once, and the
        sandbox ties the worker and evaluator to it (PR_SET_PDEATHSIG), so they go too and nothing is recorded.
        """
        ray = self._ray
        try:
            ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=0) if inflight else ([], [])
            for ref in ready:
                self._keep(inflight, ref, relay, on_result)
            for ref in inflight:
                ray.cancel(ref, force=True)
            deadline = time.monotonic() + STOP_GRACE_S
            while inflight and time.monotonic() < deadline:
                ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=POLL_S)
                for ref in ready:
                    self._keep(inflight, ref, relay, on_result)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            pass

    def _keep(self, inflight: dict, ref, relay: _Relay, on_result) -> None:
        spec = inflight.pop(ref)
        relay.finish(spec)
        try:
            result = self._ray.get(ref)
        except Exception:  # noqa: BLE001 - cancelled (or lost): nothing to record, as locally
            return
        on_result(_placed(spec, result), result)


# ----------------------------------------------------------------------------------------------- head side


def _answers(address: str) -> None:
    """A HOST:PORT where nothing listens is refused at once (Ray itself would retry it for minutes)."""
    if address == "auto":  # $RAY_ADDRESS, else the last `ray start` on this machine, which may be long gone
        try:
            from ray._private.services import canonicalize_bootstrap_address

            found = canonicalize_bootstrap_address("auto")
        except Exception:  # noqa: BLE001 - a private helper of Ray's: without it, Ray checks on its own
            return
        if not found:
            return  # Ray says at once that no cluster runs here
        try:
            _answers(found)
        except UsageError as exc:
            raise UsageError(f"--address auto found {found} (the last `ray start` here, or $RAY_ADDRESS), where no "
                             "cluster runs any more; start one with `ray start --head`, or pass its HOST:PORT") from exc
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", ray://...: Ray finds (or fails to find) those quickly itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise UsageError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start its head there with "
                         f"`ray start --head --port {port}`, or check the address") from exc


def _read_submission(spec: JobSpec) -> bytes | dict:
    """The file's bytes, which travel with the task; an error result when it cannot be read."""
    try:
        return Path(spec.file).read_bytes()
    except OSError as exc:
        return {"error": {"kind": "internal", "message": f"{spec.file} cannot be read ({exc.strerror})",
                          "record": False}, "seconds": 0.0}


def _outcome(ray, ref, retries: int) -> dict:
    """A task's result; when Ray could not run it (its node died more than `retries` times), why, not recorded."""
    try:
        result = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the task turns every error into a result: this is a grader bug
        return {"died": f"the grading task failed on its node ({exc.cause!r}); not recorded"}
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {"died": f"the grading task was lost after {retries} retries ({type(exc).__name__}: {first}); "
                        f"not recorded"}
    return result if isinstance(result, dict) else {"died": "the grading task returned no result; not recorded"}


def _placed(spec: JobSpec, result: dict) -> JobSpec:
    """The spec as it ran: the device its node gave it (an error row records it)."""
    where = result.get("where") or {}
    return spec.on(where.get("device") or spec.device)


class _Relay:
    """Forwards the tasks' progress to the batch's `emit`, once per grading and never after its result."""

    def __init__(self, ray, events, emit: Callable[[BatchEvent], None]):
        self.ray, self.events, self.emit = ray, events, emit
        self.started: set[tuple[str, int]] = set()
        self.finished: set[tuple[str, int]] = set()

    def pump(self) -> None:
        try:
            taken = self.ray.get(self.events.take.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - progress is a nicety; results never depend on it
            return
        for raw in taken:
            try:
                event = parse(raw, TASK_KINDS)  # a node's data: typed here, at the head's edge
            except EventError:
                continue  # progress is a nicety: a malformed one (a node of another version) is dropped
            assert isinstance(event, (JobStarted, JobShown))
            who = (event.student, event.seed)
            if who in self.finished:
                continue  # a late event of a finished grading would leave a stale line behind
            if isinstance(event, JobStarted):
                if who in self.started:  # Ray runs it again: its node or worker died
                    self.emit(JobRetried(**asdict(event)))
                    continue
                self.started.add(who)
            self.emit(event)

    def finish(self, spec: JobSpec) -> None:
        self.pump()  # the grading's last events land before its "done"
        self.finished.add((spec.student, spec.seed))


class _Events:
    """A mailbox on the head's node: tasks put their progress events, the head takes them in batches."""

    def __init__(self):
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> None:
        if len(self.events) < 10_000:  # a head that stopped taking must not grow this without bound
            self.events.append(event)

    def take(self) -> list[dict[str, Any]]:
        taken, self.events = self.events, []
        return taken


def _events_actor(ray):
    """The mailbox, pinned to the head's node so that no worker node's loss takes it; it asks for no CPU."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    return ray.remote(_Events).options(
        num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()


# ----------------------------------------------------------------------------------------------- node side


def _grade_on_node(spec: dict[str, Any], data: bytes, events, head_version: str, threads: int) -> dict[str, Any]:
    """One grading as a Ray task: on the GPU Ray assigned (else the CPU), in a temporary folder of this node."""
    import ray

    import grader
    from grader.batch.job import grade_job, materialize_file

    job = JobSpec.from_dict(spec)
    gpu_ids = [str(i) for i in ray.get_gpu_ids()]
    # Ray put the assigned GPUs in CUDA_VISIBLE_DEVICES; the sandbox passes it on to the worker and the evaluator.
    # A CPU task must not touch the node's GPUs: hide them (Ray sets nothing for a task that asked for none).
    if not gpu_ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch in the worker; this Ray worker may be reused
    where: dict[str, Any] = {
        "node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
        "gpu_ids": gpu_ids, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "started": time.time()}
    # the assigned GPU when torch can use it, else the CPU (a node that declares GPUs it has not got)
    device = where["device"] = "cuda" if gpu_ids and _cuda_usable() else "cpu"
    last_progress = [0.0]

    def forward(event: JobStarted | JobShown) -> None:
        if isinstance(event, JobShown) and isinstance(event.shown, Progress):
            now = time.monotonic()
            if now - last_progress[0] < PROGRESS_EVERY_S:
                return
            last_progress[0] = now
        try:
            events.put.remote(event.to_dict())  # fire and forget: progress must never slow or stop a grading
        except Exception:  # noqa: BLE001
            pass

    forward(JobStarted(job.student, job.seed, f"{where['host']} {'GPU ' + ','.join(gpu_ids) if gpu_ids else 'CPU'}",
                       where["node"], gpu_ids))
    started = time.perf_counter()
    try:
        if grader.__version__ != head_version:
            return {"error": {"kind": "internal", "record": False,
                              "message": f"node {where['host']} runs course {grader.__version__}, the head "
                                         f"{head_version}; install the same version on every node"},
                    "seconds": 0.0, "where": where}
        from grader.host.rooms import RAY_PREFIX, LockedFolder

        # locked: a Ray worker killed by a cancel or a shutdown leaves the student's file to the next sweep
        with LockedFolder(RAY_PREFIX) as folder:
            from grader.walls.sandbox import worker_env

            # what the sandbox hands the worker and the evaluator, from this task's environment
            where["worker_cuda_visible_devices"] = worker_env(folder).get("CUDA_VISIBLE_DEVICES")
            local = replace(job, file=materialize_file(data, folder)).on(device)
            result = grade_job(local, forward)
        result = _restore_path(result, local.file, job.file)
    except Exception as exc:  # noqa: BLE001 - a task that raises would be a crashed task: make it an error row
        result = {"error": {"kind": "internal", "record": False,
                            "message": f"grading failed unexpectedly on {where['host']} ({type(exc).__name__}: {exc})"},
                  "seconds": time.perf_counter() - started}
    where["ended"] = time.time()
    return {**result, "where": where}


def _cuda_usable() -> bool:
    """Whether torch on this node can use the GPU Ray assigned; asked once per Ray worker, which Ray reuses."""
    global _CUDA_USABLE
    if _CUDA_USABLE is None:
        os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # ask NVML: no CUDA context in this process
        import torch

        _CUDA_USABLE = bool(torch.cuda.is_available())
    return _CUDA_USABLE


_CUDA_USABLE: bool | None = None


def _restore_path(value, temporary: str, original: str):
    """Name the file the head knows, not this node's temporary copy, in the record and messages (as locally)."""
    if isinstance(value, str):
        return value.replace(temporary, original)
    if isinstance(value, dict):
        return {k: _restore_path(v, temporary, original) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_path(v, temporary, original) for v in value]
    return value


# ------------------------------------------------------------------------------------------------ wiring


class _NothingToGrade:
    """The pool of a batch with nothing left to grade: it starts no cluster."""

    def describe(self) -> tuple[list[str], int]:
        return ["Ray (not started: nothing to grade)"], 0

    def run(self, specs, emit, on_result) -> bool:
        return False


def pool_factory(address: str | None = None, per_gpu: int = 1, jobs: int | None = None,
                 devices: list[str] | None = None) -> Callable[[int], Pool]:
    """BatchConfig.pool for --backend ray: a RayPool once the batch knows it has gradings to run.

    Checks the options and that Ray is installed now, before the batch looks at a single submission.
    """
    require_ray()
    ray_devices(devices, address or None)
    if per_gpu < 1 or (jobs is not None and jobs < 1):
        raise UsageError("--per-gpu and --jobs must be at least 1")

    def make(gradings: int) -> Pool:
        if not gradings:
            return _NothingToGrade()
        return RayPool(address, per_gpu, jobs=jobs, devices=devices)

    return make
