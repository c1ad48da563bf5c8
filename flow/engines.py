"""Where a sweep's points are built: local worker processes (the default) or a Ray cluster.

An engine gets the points still to build (:class:`Job`: a resolved config and the last stage)
and calls back as each one finishes, with a result ``{"status", "error", "seconds",
"tasks"}``. A point that fails, or whose worker is killed or crashes, is a ``failed`` result
with its reason; the other points go on.

- ``local``: ``jobs`` worker processes build one point after another, each with
  ``cpus // jobs`` threads for synthesis and for training (unless the config fixes
  ``train.threads``: CPU training results depend on it). A worker that dies (the OOM killer, a
  segfault) takes only its own point with it and is replaced.
- ``ray``: each point is two Ray tasks with honest resource requests. Train and export ask
  for one GPU when ``train.device`` wants one (``cuda``, or ``auto`` on a cluster that has
  GPUs) and ``train.threads`` CPUs (1 if unset); compile through the last stage asks for
  ``hardware.synth_jobs`` CPUs, what synthesis will use. A request that no node of the
  cluster can ever meet is an error before anything starts, naming the point and resource.
  Tasks are not retried: a point whose task died is recorded, not built twice. Every node
  must see the build root at the same path (a shared filesystem) and have a2q-flow installed.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from flow.config import BuildConfig
from flow.errors import A2QError
from flow.logs import setup_logging
from flow.stages import STAGE_NAMES, stage_index

ENGINES = ("local", "ray")
RAY_INSTALL = "pip install 'a2q-flow[ray]' (in this checkout: make install EXTRAS=dev,ray)"
TRAIN_STAGES = ("train", "export")  # the first Ray task of a point; the rest is the second


@dataclass(frozen=True)
class Job:
    """One point to build: its id in the sweep, its resolved config and its last stage."""

    id: str
    cfg: BuildConfig
    until: str | None = None


OnDone = Callable[[Job, dict], None]


def failed(reason: str, seconds: float = 0.0, tasks: list | None = None) -> dict:
    """The result of a point that did not finish."""
    return {"status": "failed", "error": reason, "seconds": seconds, "tasks": tasks or []}


def with_resources(cfg: BuildConfig, threads: int, device: str | None = None) -> BuildConfig:
    """``cfg`` with ``threads`` CPU threads for synthesis and training (and ``device``).

    A config's own ``train.threads`` is kept: CPU training results depend on the thread
    count, so a point trains as ``a2q run`` of its config would. These are
    :data:`flow.config.RESOURCE_KEYS`: no stage's cache key changes.
    """
    train = dataclasses.replace(
        cfg.train, threads=cfg.train.threads or threads, device=device or cfg.train.device
    )
    hardware = dataclasses.replace(cfg.hardware, synth_jobs=threads)
    return dataclasses.replace(cfg, train=train, hardware=hardware)


def build_point(cfg: BuildConfig, build_root: str, until: str | None, step: str) -> dict:
    """Run the stages of one point up to ``until`` (in a worker); its result.

    What the libraries print (torch's exporter, qonnx's warnings) goes to the point's
    ``log.txt`` with its log, not to the console of the sweep.
    """
    from flow.pipeline import run_pipeline

    t0 = time.perf_counter()
    task = {
        "step": step,
        "pid": os.getpid(),
        "train_threads": cfg.train.threads,
        "synth_jobs": cfg.hardware.synth_jobs,
    }
    log_file = Path(build_root) / cfg.name / "log.txt"
    try:
        setup_logging(True, log_file)
        with open(log_file, "a") as out, redirect_stdout(out), redirect_stderr(out):
            run_pipeline(cfg, Path(build_root), until=until, show_progress=False)
        status, error = "ok", None
    except Exception as e:  # a failed point is data, not the end of the sweep
        status, error = "failed", _reason(e)
    seconds = time.perf_counter() - t0
    task["seconds"] = round(seconds, 1)
    return {"status": status, "error": error, "seconds": seconds, "tasks": [task]}


def _reason(e: BaseException) -> str:
    if isinstance(e, A2QError):
        return str(e)
    return "".join(traceback.format_exception_only(type(e), e)).strip()


def make_engine(name: str, *, jobs: int | None = None, address: str | None = None):
    """The engine called ``name``; its options are checked before anything starts."""
    if name not in ENGINES:
        raise A2QError(f"--engine: unknown engine {name!r}; engines are {', '.join(ENGINES)}")
    if jobs is not None and jobs < 1:
        raise A2QError(f"--jobs: must be at least 1, got {jobs}")
    if name == "local":
        if address is not None:
            raise A2QError("--address names a Ray cluster: use it with --engine ray")
        return LocalEngine(jobs or 1)
    if jobs is not None:
        raise A2QError(
            "--jobs is the local engine's: on Ray each point asks for train.threads and "
            "hardware.synth_jobs CPUs, and the cluster runs as many points as fit"
        )
    return RayEngine(address)


class LocalEngine:
    """Points in worker processes on this machine, ``jobs`` at a time."""

    name = "local"

    def __init__(self, jobs: int = 1):
        self.jobs = jobs
        self.threads = max(1, (multiprocessing.cpu_count() or 1) // jobs)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def describe(self) -> str:
        return f"local engine, {self.jobs} point(s) at a time, {self.threads} thread(s) each"

    def parallel(self, jobs: list[Job]) -> int:
        """How many points run at once."""
        return self.jobs

    def check(self, jobs: list[Job]) -> None:
        """Every request fits this machine by construction."""

    def run(self, jobs: list[Job], build_root: Path, on_done: OnDone) -> None:
        """Build ``jobs``; call ``on_done`` as each finishes (in this thread).

        Up to ``jobs`` worker processes each build one point after another (imports paid
        once); a worker that dies fails its point and is replaced by a fresh one.
        """
        ctx = multiprocessing.get_context("spawn")
        queue, idle = list(jobs), []
        busy: dict[Any, tuple[Job, Any]] = {}  # pipe -> (job, process)
        try:
            while queue or busy:
                while queue and len(busy) < self.jobs:
                    conn, proc = idle.pop() if idle else _start_worker(ctx)
                    job = queue.pop(0)
                    conn.send((with_resources(job.cfg, self.threads), str(build_root), job.until))
                    busy[conn] = (job, proc)
                for conn in wait(list(busy)):
                    job, proc = busy.pop(conn)
                    try:
                        result = conn.recv()
                        idle.append((conn, proc))
                    except EOFError:  # the worker died: its pipe closed with it
                        conn.close()
                        proc.join()
                        result = failed(_died(proc.exitcode, job))
                    on_done(job, result)
        finally:
            for conn, proc in idle:
                try:
                    conn.send(None)
                    proc.join(timeout=10)
                except OSError:  # it died already (Ctrl-C reaches the workers too)
                    pass
            for conn, proc in [*idle, *((c, p) for c, (_, p) in busy.items())]:
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
                conn.close()


def _start_worker(ctx: Any) -> tuple[Any, Any]:
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(theirs,), name="a2q-sweep-worker")
    proc.start()
    theirs.close()  # the worker holds the only other end: EOF here when it dies
    return ours, proc


def _serve(conn: Any) -> None:
    """A local worker: build the points it is sent, one at a time, until it gets None."""
    while (job := conn.recv()) is not None:
        conn.send(build_point(*job, "build"))


def _died(exitcode: int | None, job: Job) -> str:
    if exitcode is not None and exitcode < 0:
        how = f"was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exited with code {exitcode}"
    return (
        f"the worker process building {job.cfg.name} {how} (out of memory? see its log.txt); "
        "re-run the sweep to retry this point"
    )


class RayEngine:
    """Points as Ray tasks on a local Ray cluster or on the one at ``address``."""

    name = "ray"

    def __init__(self, address: str | None = None):
        self.address = address
        self._owned = False
        self._ray: Any = None
        self._gpus: bool | None = None  # whether the cluster has GPUs (asked once)

    def __enter__(self) -> RayEngine:
        try:
            import ray
        except ImportError:
            raise A2QError(f"--engine ray needs Ray, not installed here: {RAY_INSTALL}") from None
        self._ray = ray
        if not ray.is_initialized():  # a caller's own ray.init() is used as it is
            where = self.address or "a new local cluster"
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            except Exception as e:
                raise A2QError(f"--address {where}: cannot connect to Ray: {_reason(e)}") from None
            self._owned = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._owned:
            self._ray.shutdown()

    def nodes(self) -> list[dict[str, float]]:
        """The resources of each live node of the cluster."""
        return [n["Resources"] for n in self._ray.nodes() if n.get("Alive")]

    def describe(self) -> str:
        nodes = self.nodes()
        cpus = sum(n.get("CPU", 0) for n in nodes)
        gpus = sum(n.get("GPU", 0) for n in nodes)
        where = self.address or "local"
        return f"Ray cluster ({where}): {len(nodes)} node(s), {cpus:g} CPUs, {gpus:g} GPUs"

    def parallel(self, jobs: list[Job]) -> int:
        """About how many of ``jobs`` build at once: the CPUs over a point's largest request."""
        cpus = sum(n.get("CPU", 0) for n in self.nodes())
        most = max((s[2]["CPU"] for j in jobs for s in self.steps(j)), default=1)
        return max(1, int(cpus // most))

    def steps(self, job: Job) -> list[tuple[str, str | None, dict[str, float], BuildConfig]]:
        """The tasks of ``job``: (step, last stage, Ray resources, config)."""
        cfg, until = job.cfg, job.until
        last = stage_index(until, "until") if until else len(STAGE_NAMES) - 1
        train_cpus = cfg.train.threads or 1
        if self._gpus is None:
            self._gpus = any(n.get("GPU", 0) >= 1 for n in self.nodes())
        want_gpu = cfg.train.device == "cuda" or (cfg.train.device == "auto" and self._gpus)
        first = min(until, TRAIN_STAGES[-1], key=STAGE_NAMES.index) if until else "export"
        steps = [
            (
                "train+export",
                first,
                {"CPU": train_cpus, **({"GPU": 1} if want_gpu else {})},
                with_resources(cfg, train_cpus, None if want_gpu else "cpu"),
            )
        ]
        if last > STAGE_NAMES.index(TRAIN_STAGES[-1]):
            cpus = cfg.hardware.synth_jobs
            build = with_resources(cfg, cpus, "cpu")
            steps.append((f"compile..{STAGE_NAMES[last]}", until, {"CPU": cpus}, build))
        return steps

    def check(self, jobs: list[Job]) -> None:
        """Refuse a request that no node can ever meet (Ray would wait for it forever)."""
        nodes = self.nodes()
        for job in jobs:
            for step, _, request, _ in self.steps(job):
                if not any(all(n.get(k, 0) >= v for k, v in request.items()) for n in nodes):
                    raise A2QError(unsatisfiable(job, step, request, nodes))

    def run(self, jobs: list[Job], build_root: Path, on_done: OnDone) -> None:
        """Submit every point's tasks; call ``on_done`` as each point finishes."""
        ray = self._ray
        task = ray.remote(max_retries=0)(_ray_step)
        final: dict[Any, tuple[Job, list]] = {}
        for job in jobs:
            refs: list = []
            for step, until, request, cfg in self.steps(job):
                opts = {"num_cpus": request["CPU"], "num_gpus": request.get("GPU", 0)}
                args = (refs[-1] if refs else None, request, cfg, str(build_root), until, step)
                refs.append(task.options(name=f"{job.id} {step}", **opts).remote(*args))
            final[refs[-1]] = (job, refs)
        try:
            while final:
                done, _ = ray.wait(list(final), num_returns=1)
                job, refs = final.pop(done[0])
                on_done(job, self._result(job, refs))
        finally:
            for _, refs in final.values():
                for ref in refs:
                    ray.cancel(ref, force=True)

    def _result(self, job: Job, refs: list) -> dict:
        """The point's result; a task that died names its step, and the tasks before it
        that finished keep their record."""
        ray, prev = self._ray, None
        for ref, (step, *_) in zip(refs, self.steps(job), strict=True):
            try:
                prev = ray.get(ref)
            except ray.exceptions.RayError as e:
                reason = f"the Ray task {step!r} of {job.cfg.name} died: {_first(e)}"
                return failed(reason, *((prev["seconds"], prev["tasks"]) if prev else ()))
        return prev


def _first(e: BaseException) -> str:
    lines = [x for x in str(e).splitlines() if x.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}".strip()


def unsatisfiable(job: Job, step: str, request: dict[str, float], nodes: list[dict]) -> str:
    """The error for a request no node of the cluster has."""
    keys = {"CPU": "train.threads" if step == "train+export" else "hardware.synth_jobs"}
    keys["GPU"] = "train.device"
    largest = {k: max((n.get(k, 0) for n in nodes), default=0) for k in request}
    short = [k for k in request if request[k] > largest[k]]
    wants = ", ".join(f"{request[k]:g} {k} ({keys.get(k, k)})" for k in short)
    has = ", ".join(f"{largest[k]:g} {k}" for k in short)
    return (
        f"point {job.id}: its {step} task asks for {wants}, but no node of the Ray cluster has "
        f"that (the largest has {has}); lower the setting or add such a node"
    )


def _ray_step(
    prev: dict | None,
    request: dict[str, float],
    cfg: BuildConfig,
    build_root: str,
    until: str | None,
    step: str,
) -> dict:
    """One Ray task of a point: its stages after ``prev`` (the point's earlier task)."""
    import ray

    if prev is not None and prev["status"] != "ok":
        return prev
    result = build_point(cfg, build_root, until, step)
    ctx = ray.get_runtime_context()
    gpus = ctx.get_accelerator_ids().get("GPU", [])
    result["tasks"][0].update(
        node=ctx.get_node_id()[:12], resources=request, gpu_ids=[str(g) for g in gpus]
    )
    if prev is not None:
        result["seconds"] += prev["seconds"]
        result["tasks"] = prev["tasks"] + result["tasks"]
    return result
