"""Runs on a Ray cluster: the same queue, one Ray task per run, results back into the local store.

The scheduler of the submitting machine is the Ray driver. For each queued run of executor
`ray` it claims the run (the run's lock is then held by the scheduler, exactly as a local
worker holds it), submits one Ray task, and a thread of the scheduler streams what the task
yields into the run folder: the worker's host and device, live progress (engine.store.live), the
checkpoints and the final arrays. No shared filesystem is assumed: everything travels as Ray
objects and is written here, so the app shows a remote run live exactly like a local one.

- Resources: a run whose device is CUDA asks for `gpus_per_run` GPUs (1 unless the user shares
  GPUs with a fraction), else `cpus_per_run` CPUs. At most as many runs are in flight as the
  cluster has room for; the rest stay `queued` here.
- Cancel: the run's cancel file (`supertui cancel`, the app's `x`) sets a flag in a small actor
  that the task polls, so the task stops after its step and the run is kept as `cancelled`
  with what it trained; a task that has not started yet is cancelled through Ray.
- Faults: a killed Ray worker or a lost node ends the run `interrupted` with the reason; tasks
  are never retried (a retry would train the run twice). If the scheduler itself dies, Ray ends
  its tasks with it and the runs read `interrupted`: nothing hangs.
- Data: a run's data and init come from the counter hash of (seed, step, feature, sample), so
  the run trained through Ray equals the same run trained locally (within float tolerance: the
  reductions run with the task's thread count, which may differ from a local slot's).
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.errors import ConfigError
from engine.jobs.lifecycle import CancelledBeforeStart, RunFailed, RunLost, carry

ACTOR_NAME = "supertui-stop-flags"
NAMESPACE = "supertui"
ADDRESS_ENV = "SUPERTUI_RAY_ADDRESS"
STOP_POLL_INTERVAL = 0.5  # seconds between the task's looks at its stop flag
CONNECT_TIMEOUT = 3.0


@dataclass(frozen=True)
class RaySettings:
    address: str
    gpus_per_run: float = 1.0
    cpus_per_run: float = 1.0

    def to_manifest(self) -> dict[str, Any]:
        return {"kind": "ray", "address": self.address, "gpus_per_run": self.gpus_per_run,
                "cpus_per_run": self.cpus_per_run}

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> "RaySettings":
        return cls(str(data["address"]), float(data.get("gpus_per_run", 1.0)), float(data.get("cpus_per_run", 1.0)))

    def resources(self, device: str) -> dict[str, float]:
        if str(device).startswith("cuda"):
            return {"num_gpus": self.gpus_per_run, "num_cpus": self.cpus_per_run}
        return {"num_gpus": 0, "num_cpus": self.cpus_per_run}


def ray_module():
    try:
        import ray
    except ImportError:
        raise ConfigError("executor", "ray is not installed here (pip install 'supertui[ray]')") from None
    return ray


def check_address(address: str) -> tuple[str, int]:
    """HOST:PORT of a Ray head, as typed (no network): (host, port), or ConfigError."""
    host, _, port = str(address).strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("address", f"cannot read {address!r} (accepted: HOST:PORT of a Ray head, e.g. 127.0.0.1:6379)")
    return host, int(port)


def check_reachable(address: str) -> None:
    """A quick TCP look at the cluster's address, so a typo fails in seconds, not minutes."""
    host, port = check_address(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ConfigError("address", f"no Ray cluster answers at {address} ({exc.strerror or exc})") from None


def connect(address: str) -> None:
    ray = ray_module()
    if ray.is_initialized():
        return
    import engine

    ray.init(
        address=address,
        namespace=NAMESPACE,
        logging_level="ERROR",
        log_to_driver=False,
        runtime_env={"py_modules": [str(Path(engine.__file__).resolve().parent)]},
    )


def check_cluster(settings: RaySettings, devices: list[str]) -> None:
    """Connect, and refuse (ConfigError) when the cluster cannot hold one run of each device."""
    ray = ray_module()
    check_reachable(settings.address)
    try:
        connect(settings.address)
        total = ray.cluster_resources()
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError("address", f"cannot join the Ray cluster at {settings.address} ({type(exc).__name__}: {exc})") from None
    finally:
        if ray.is_initialized():
            ray.shutdown()
    for device in devices:
        need = settings.resources(device)
        if need["num_gpus"] > total.get("GPU", 0):
            raise ConfigError("device", f"{device} runs need {need['num_gpus']:g} GPU each, the cluster at "
                                        f"{settings.address} has {total.get('GPU', 0):g}")
        if need["num_cpus"] > total.get("CPU", 0):
            raise ConfigError("executor", f"runs need {need['num_cpus']:g} CPU each, the cluster at "
                                          f"{settings.address} has {total.get('CPU', 0):g}")


def run_device(wanted: str, capacity: dict[str, float]) -> str:
    """Where a run trains on the cluster: its own device, or for `auto` a GPU where the cluster
    has any, else the CPU."""
    wanted = (wanted or "auto").lower()
    if wanted != "auto":
        return wanted
    return "cuda" if capacity.get("GPU", 0) > 0 else "cpu"


# --------------------------------------------------------------------------- the remote side


def _stop_flags_class():
    ray = ray_module()

    @ray.remote(num_cpus=0)
    class StopFlags:
        """Run ids whose tasks should stop; polled by the tasks, set by the driver."""

        def __init__(self):
            self.stopped: set[str] = set()

        def stop(self, run_id: str) -> None:
            self.stopped.add(run_id)

        def is_stopped(self, run_id: str) -> bool:
            return run_id in self.stopped

    return StopFlags


def train_remotely(config_dict: dict, run_id: str, stop_flags, threads: int):
    """The Ray task: train in a thread, yield what the driver needs as it happens.

    Yields ("start", info), ("progress", TrainProgress), ("checkpoint", TrainResult) and, last,
    ("result", TrainResult) or ("error", one-line reason)."""
    import time

    import torch

    from engine.config import RunConfig
    from engine.jobs.lifecycle import failure_line
    from engine.training.device import describe_device
    from engine.training.run import resolve_run
    from engine.training.train import train

    torch.set_num_threads(max(1, int(threads)))
    run = resolve_run(RunConfig.from_dict(config_dict))  # validated on the node that trains it
    yield ("start", {"host": socket.gethostname(), "pid": os.getpid(), "device": describe_device(run.device),
                     "torch": torch.__version__})
    items: queue.Queue = queue.Queue()
    last_look = [0.0, False]

    def should_stop() -> bool:
        now = time.monotonic()
        if not last_look[1] and now - last_look[0] >= STOP_POLL_INTERVAL:
            last_look[0] = now
            import ray

            last_look[1] = bool(ray.get(stop_flags.is_stopped.remote(run_id)))
        return last_look[1]

    def work() -> None:
        try:
            result = train(run, on_progress=lambda p: items.put(("progress", p)), should_stop=should_stop,
                           on_checkpoint=lambda r: items.put(("checkpoint", r)), progress_interval=0.25)
            items.put(("result", result))
        except BaseException as exc:  # reported to the driver as the run's reason
            items.put(("error", failure_line(exc)))

    threading.Thread(target=work, daemon=True).start()
    while True:
        item = items.get()
        yield item
        if item[0] in ("result", "error"):
            return


# --------------------------------------------------------------------------- the driver side


@dataclass
class RemoteRun:
    run_id: str
    device: str
    settings: RaySettings
    thread: threading.Thread
    generator: Any = None
    started: bool = False
    stop_sent: bool = False


@dataclass
class RayExecutor:
    """Lives in the scheduler: starts claimed runs as Ray tasks and streams them into the store.
    One per process and cluster address (a Ray driver joins one cluster at a time)."""

    address: str
    log: Callable[[str], None]
    runs: dict[str, RemoteRun] = field(default_factory=dict)
    _flags: Any = None
    capacity: dict[str, float] | None = None  # the cluster's resources, once joined

    def open(self) -> None:
        ray = ray_module()
        check_reachable(self.address)
        connect(self.address)
        StopFlags = _stop_flags_class()
        self._flags = StopFlags.options(name=ACTOR_NAME, get_if_exists=True).remote()
        self.capacity = {key: float(value) for key, value in ray.cluster_resources().items()}
        self.log(f"ray: joined {self.address} ({self.capacity.get('CPU', 0):g} CPU, "
                 f"{self.capacity.get('GPU', 0):g} GPU)")

    def close(self) -> None:
        ray = ray_module()
        if ray.is_initialized():
            ray.shutdown()

    def in_flight(self) -> int:
        for run_id in [r for r, remote in self.runs.items() if not remote.thread.is_alive()]:
            del self.runs[run_id]
        return len(self.runs)

    def has_room(self, settings: RaySettings, device: str) -> bool:
        self.in_flight()
        need = settings.resources(device)
        used_gpu = sum(r.settings.resources(r.device)["num_gpus"] for r in self.runs.values())
        used_cpu = sum(r.settings.resources(r.device)["num_cpus"] for r in self.runs.values())
        cap = self.capacity or {}
        return (used_gpu + need["num_gpus"] <= cap.get("GPU", 0) + 1e-9
                and used_cpu + need["num_cpus"] <= cap.get("CPU", 0) + 1e-9)

    def start(self, writer, settings: RaySettings) -> None:
        device = run_device(writer.config.device, self.capacity or {})
        thread = threading.Thread(target=self._drive, args=(writer, device, settings), daemon=True)
        remote = RemoteRun(writer.id, device, settings, thread)
        self.runs[writer.id] = remote
        thread.start()

    def _drive(self, writer, device: str, settings: RaySettings) -> None:
        """The driver's thread for one run: the one lifecycle, with the Ray task as its execution."""
        remote = self.runs[writer.id]
        carry(writer, self._execution(remote, device, settings), stop=lambda: False, log=self.log)

    def _execution(self, remote: RemoteRun, device: str, settings: RaySettings):
        def execute(hooks):
            ray = ray_module()
            writer = hooks.writer
            task = ray.remote(max_retries=0)(train_remotely).options(**settings.resources(device))
            config = writer.config.replace(device="cuda" if device.startswith("cuda") else device)
            try:
                remote.generator = task.remote(config.to_dict(), writer.id, self._flags, int(max(1, settings.cpus_per_run)))
                self.log(f"run {writer.id} -> ray task ({device})")
                for kind, payload in self._items(remote, writer):
                    if kind == "start":
                        remote.started = True
                        hooks.started(device=payload["device"], host=payload["host"], pid=payload["pid"],
                                      versions={"torch": payload["torch"]})
                    elif kind == "progress":
                        hooks.progress(payload)
                    elif kind == "checkpoint":
                        hooks.checkpoint(payload)
                    elif kind == "result":
                        return payload
                    elif kind == "error":
                        raise RunFailed(payload)
            except RunFailed:
                raise
            except Exception as exc:  # a killed Ray worker, a lost node, a cancelled pending task
                self.log(f"run {writer.id}: {type(exc).__name__}")
                if remote.stop_sent and not remote.started:
                    raise CancelledBeforeStart() from None
                raise RunLost(f"the Ray task died ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
            raise RunLost("the Ray task ended without a result")

        return execute

    def _items(self, remote: RemoteRun, writer):
        ray = ray_module()
        generator = remote.generator
        while True:
            ready, _ = ray.wait([generator], timeout=0.25)
            if writer.cancel_requested() and not remote.stop_sent:
                remote.stop_sent = True
                self._flags.stop.remote(writer.id)
                if not remote.started:
                    ray.cancel(generator, force=False)
            if not ready:
                continue
            try:
                ref = next(generator)
            except StopIteration:
                return
            yield ray.get(ref)
