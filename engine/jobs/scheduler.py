"""The scheduler: one detached process per data directory that starts queued runs on free devices.

    python -m engine.jobs.scheduler --data-dir DIR       (clients start it with `ensure_scheduler`)

It is built from the operating system's primitives only: it runs while it holds the flock on
`<data>/scheduler/lock` (so there is never more than one, and a dead one frees the lock with its
last breath); the queue is the files in `<data>/queue/`; each device slot is a lock file that the
worker training on it holds; each run is claimed under its own lock by the worker, so no run is
ever trained twice, whatever is killed when. Nothing listens on a port.

Slots: `<data>/scheduler/devices.json` (written by `supertui train --devices ...` or the app),
else every CUDA GPU the workers see, else MPS, else one CPU slot. Runs start in queue order as
slots free up. One spare worker waits with torch already imported, so a new run starts at once.
With nothing queued, nothing training and no client (the app) around for a while, it exits; the
next submission starts a new one, which picks up whatever is queued.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ConfigError, StoreError
from engine.jobs.queue import Doorbell, JobQueue
from engine.jobs.worker import QUIET_EXITS
from engine.system.files import atomic_write_json
from engine.system.input_files import InputFileError, read_bounded_json
from engine.system.locks import HeldLock, ensure_folder, is_held, set_aside, try_lock
from engine.system.processes import spawn_detached
from engine.store.runs import RunStore

POLL_INTERVAL = 0.2  # seconds between looks at the workers while any trains
IDLE_POLL_INTERVAL = 1.0  # with nothing training: a submission rings the doorbell (engine.jobs.queue) sooner
DISPATCH_EVERY = 10.0  # seconds: the queue is looked through at least this often, changed or not (slots freed elsewhere)
REFINE_EVERY = 2.0  # seconds between looks at unfinished refinements (engine.sweeps.refine), besides after a worker ends
RECONCILE_EVERY = 60.0  # seconds between full passes of the reconciler (engine.jobs.queue); a worker of its own is reconciled as it exits
WORKER_FAILURES_ALLOWED = 3  # a run whose worker fails this often is marked failed with the reason
BACKOFF_SECONDS = 2.0  # after a worker failure the run waits this long, doubled each time
SPARE_BACKOFF_LIMIT = 60.0
MAX_DEVICES_BYTES = 64 * 1024
# No queue, no training, no client for this long: the scheduler retires (tests shorten it).
IDLE_EXIT_SECONDS = float(os.environ.get("SUPERTUI_SCHEDULER_IDLE", "60"))
CLIENT_TTL = 45.0  # a client heartbeat older than this is a client gone
STALE_STAGING_SECONDS = 3600.0
LOG_LIMIT_BYTES = 4 << 20
DEVICE_ACCEPTED = "cpu, cuda, cuda:N or mps, comma separated (e.g. cuda:0,cuda:2 or cpu,cpu), or auto"


# --------------------------------------------------------------------------- paths and settings


@dataclass(frozen=True)
class SchedulerPaths:
    root: Path

    @classmethod
    def of(cls, store: RunStore) -> "SchedulerPaths":
        return cls(store.data_dir / "scheduler")

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def log(self) -> Path:
        return self.root / "scheduler.log"

    @property
    def devices(self) -> Path:
        return self.root / "devices.json"

    @property
    def clients(self) -> Path:
        return self.root / "clients"

    def slot_lock(self, index: int) -> Path:
        return self.root / "slots" / str(index)


def parse_devices(text: str) -> list[str] | None:
    """`cuda:0,cuda:2` -> ["cuda:0", "cuda:2"]; `auto` -> None (every device the workers see)."""
    items = [item.strip().lower() for item in str(text).split(",")]
    if items == ["auto"]:
        return None
    if not items or any(not item for item in items):
        raise ConfigError("devices", f"cannot read {text!r} (accepted: {DEVICE_ACCEPTED})")
    for item in items:
        index = item.partition(":")[2]
        ok = item in ("cpu", "mps", "cuda") or (item.startswith("cuda:") and index.isdigit())
        if not ok:
            raise ConfigError("devices", f"unknown device {item!r} (accepted: {DEVICE_ACCEPTED})")
    return items


def save_devices(store: RunStore, devices: list[str] | None) -> None:
    """The slots every later scheduling decision uses; None goes back to automatic."""
    paths = SchedulerPaths.of(store)
    if devices is None:
        paths.devices.unlink(missing_ok=True)
    else:
        atomic_write_json(paths.devices, {"devices": devices})


def load_devices(store: RunStore) -> list[str] | None:
    """The saved slots; None (automatic) when there are none or the file is not one we wrote
    (a folder, a FIFO, an endless file: refused without blocking, engine.system.input_files)."""
    try:
        data = read_bounded_json(SchedulerPaths.of(store).devices, MAX_DEVICES_BYTES)
        return parse_devices(",".join(data["devices"]))
    except (OSError, ValueError, KeyError, TypeError, ConfigError, InputFileError):
        return None


def default_devices(detected: dict) -> list[str]:
    cuda = int(detected.get("cuda") or 0)
    if cuda:
        return [f"cuda:{i}" for i in range(cuda)]
    return ["mps"] if detected.get("mps") else ["cpu"]


def device_matches(wanted: str, slot: str) -> bool:
    wanted = (wanted or "auto").lower()
    return wanted == "auto" or wanted == slot or (wanted == "cuda" and slot.startswith("cuda"))


# --------------------------------------------------------------------------- clients


def heartbeat(store: RunStore) -> Path:
    """A client (the app) says it is here, so the scheduler stays warm; call it every few seconds.
    The file is named by the client's pid: a dead client is gone at once, whatever its date."""
    path = SchedulerPaths.of(store).clients / f"{os.getpid()}"
    ensure_folder(path.parent)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        set_aside(path)
    path.touch()
    return path


def client_alive(name: str, mtime: float, now: float) -> bool:
    """A heartbeat counts while it is recent (never dated ahead of now) and its pid lives."""
    if not name.isdigit() or not -5.0 <= now - mtime <= CLIENT_TTL:
        return False
    try:
        os.kill(int(name), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, as another user
    except (OverflowError, ValueError):
        return False
    return True


def scheduler_running(store: RunStore) -> bool:
    return is_held(SchedulerPaths.of(store).lock)


def ensure_scheduler(store: RunStore) -> bool:
    """Start the data directory's scheduler unless one runs; True if one was started. Safe to
    call from any number of clients at once: a second scheduler finds the lock taken and exits."""
    paths = SchedulerPaths.of(store)
    if is_held(paths.lock):
        return False
    prepare_log(paths.log)
    spawn_detached([sys.executable, "-m", "engine.jobs.scheduler", "--data-dir", str(store.data_dir)], paths.log)
    return True


def serve_queue(store: RunStore, run_ids: list[str] | None = None):
    """What every client that waits does (`wait`, `train`, `jobs`, the app): restore the queue's
    invariant for `run_ids` (default: every unsettled run, engine.jobs.queue.JobQueue.reconcile),
    then start a scheduler if queued work exists and none runs. Returns the Reconciled."""
    done = JobQueue(store).reconcile(run_ids)
    if (done.queued or done.requeued or store.queue_entries()) and not scheduler_running(store):
        ensure_scheduler(store)
    return done


# --------------------------------------------------------------------------- the scheduler


@dataclass
class Slot:
    index: int
    device: str
    worker: subprocess.Popen | None = None
    run_id: str | None = None


@dataclass
class Spare:
    proc: subprocess.Popen
    info: dict | None = None  # the ready line: pid and the devices it sees

    def poll_ready(self) -> bool:
        if self.info is None and self.proc.poll() is None:
            readable, _, _ = select.select([self.proc.stdout], [], [], 0)
            if readable:
                line = self.proc.stdout.readline()
                try:
                    self.info = json.loads(line) if line else None
                except ValueError:
                    self.info = None
        return self.info is not None and self.proc.poll() is None


@dataclass
class Scheduler:
    store: RunStore
    lock: HeldLock
    slots: list[Slot] = field(default_factory=list)
    spare: Spare | None = None
    detected: dict | None = None
    failures: dict[str, int] = field(default_factory=dict)  # worker failures per run
    retry_at: dict[str, float] = field(default_factory=dict)  # a failed run's next try (monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    stopping: bool = False
    ray: object | None = None  # engine.jobs.ray_executor.RayExecutor, once a run asks for Ray
    ray_retry_at: float = 0.0
    local_waiting: bool = False  # a queued run wants a local worker
    spare_failures: int = 0
    spare_retry_at: float = 0.0
    executors: dict[str, str] = field(default_factory=dict)  # run id -> "local" / "ray", read once per entry
    dirty: bool = True  # something changed since the queue was last looked through
    dispatched_at: float = 0.0
    reconciled_at: float = 0.0
    refined_at: float = 0.0
    ended_refinements: set[str] = field(default_factory=set)  # never read again: an ended refinement stays ended
    doorbell: Doorbell | None = None
    queue_stamp: int | None = None

    @property
    def paths(self) -> SchedulerPaths:
        return SchedulerPaths.of(self.store)

    @property
    def queue(self) -> JobQueue:
        return JobQueue(self.store, self.log)

    def log(self, text: str) -> None:
        stamp = _dt.datetime.now().isoformat(timespec="seconds")
        try:
            print(f"{stamp} scheduler[{os.getpid()}]: {text}", file=sys.stderr, flush=True)
        except OSError:
            pass  # a full disk loses a log line, never the scheduler

    # The loop -------------------------------------------------------------------------------
    def run(self) -> None:
        self.log(f"started on {self.store.data_dir}")
        self.doorbell = Doorbell(self.store)
        try:
            self.store.clean_stale(STALE_STAGING_SECONDS)
        except (StoreError, OSError) as exc:  # an unreadable runs folder: the queue still runs
            self.log(f"could not look through the runs: {exc}")
        while not self.stopping:
            self.guarded_tick()
            if self.idle() and time.monotonic() - self.idle_since > IDLE_EXIT_SECONDS:
                break
            self.wait_for_the_queue(POLL_INTERVAL if self.busy() else IDLE_POLL_INTERVAL)
        self.retire_spare()
        if self.ray is not None:
            self.ray.close()
        self.doorbell.close()
        self.log("idle: exiting" if not self.stopping else "stopping (running workers go on)")

    def guarded_tick(self) -> None:
        """One look at everything. Whatever one odd file or run throws is logged and the loop
        goes on: nothing in the data directory can stop the scheduler."""
        try:
            self.tick()
        except Exception as exc:
            self.log(f"error (the scheduler goes on): {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            time.sleep(POLL_INTERVAL)

    def wait_for_the_queue(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once when a submission rings the doorbell; a queue
        folder changed by a client that does not ring (an older one) is seen at the next look."""
        if self.doorbell is None:
            self.doorbell = Doorbell(self.store)
        if self.doorbell.wait(seconds) or self.queue_changed():
            self.dirty = True

    def queue_changed(self) -> bool:
        try:
            stamp = self.store.queue_dir.stat().st_mtime_ns
        except OSError:
            stamp = None
        changed, self.queue_stamp = stamp != self.queue_stamp, stamp
        return changed

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.reconciled_at > RECONCILE_EVERY:
            self.reconciled_at = now
            if self.queue.reconcile().requeued:
                self.dirty = True
        self.reap()
        if self.dirty or now - self.refined_at > REFINE_EVERY:
            self.refined_at = now
            self.advance_refinements()
        if self.spare is not None and self.spare.poll_ready() and self.detected is None:
            self.detected = {k: v for k, v in self.spare.info.items() if k != "ready"}
            self.dirty = True
        self.configure_slots()
        if self.dirty or now - self.dispatched_at > DISPATCH_EVERY:
            self.dirty, self.dispatched_at = False, now
            self.dispatch()
        self.keep_spare()
        if not self.idle():
            self.idle_since = time.monotonic()

    def advance_refinements(self) -> None:
        """Queue the next level of every refinement whose runs have all completed: the levels go on
        without the client that started them."""
        from engine.sweeps.refine import advance_refinements

        advance_refinements(self.store, self.log, self.ended_refinements)

    def busy(self) -> bool:
        return any(slot.worker is not None for slot in self.slots) or (self.ray is not None and self.ray.in_flight() > 0)

    def idle(self) -> bool:
        return not self.busy() and not self.clients_present() and not self.store.has_queue_entries()

    def clients_present(self) -> bool:
        """A client (the app) sent a heartbeat lately; stale or odd heartbeats are removed."""
        present = False
        now = time.time()
        try:
            with os.scandir(self.paths.clients) as found:
                beats = [(e.name, e.stat(follow_symlinks=False)) for e in found if not e.name.startswith(".")]
        except OSError:
            return False
        for name, info in beats:
            if stat.S_ISREG(info.st_mode) and client_alive(name, info.st_mtime, now):
                present = True
                continue
            try:
                if stat.S_ISDIR(info.st_mode):
                    set_aside(self.paths.clients / name)
                else:
                    (self.paths.clients / name).unlink(missing_ok=True)
            except OSError:
                pass
        return present

    # Slots ----------------------------------------------------------------------------------
    def configure_slots(self) -> None:
        devices = load_devices(self.store)
        if devices is None:
            if self.detected is None:
                return  # the spare worker will say what this machine has
            devices = default_devices(self.detected)
        if [s.device for s in self.slots] == devices:
            return
        # Keep the workers already running; new slots start free.
        kept = {s.index: s for s in self.slots if s.worker is not None}
        self.slots = [kept.get(i) or Slot(i, device) for i, device in enumerate(devices)]
        for index, slot in kept.items():
            if index >= len(self.slots):
                self.slots.append(slot)  # a slot removed while busy stays until its run ends
        self.log(f"slots: {', '.join(s.device for s in self.slots)}")

    def free_slot(self, wanted: str, free: list[Slot]) -> Slot | None:
        matching = [s for s in free if device_matches(wanted, s.device)]
        if matching:
            return matching[0]
        if free and not any(device_matches(wanted, s.device) for s in self.slots):
            return free[0]  # no slot of that device at all: it trains there, the slot only counts
        return None

    def threads_for(self, slot: Slot) -> int | None:
        if not slot.device.startswith("cpu"):
            return None
        cpu_slots = sum(1 for s in self.slots if s.device == "cpu")
        cpus = int((self.detected or {}).get("cpus") or os.cpu_count() or 1)
        return max(1, cpus // max(1, cpu_slots))

    # Runs -----------------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Start what the free slots can take, in queue order. A run's manifest is read once to
        learn where it trains; with no slot free, local runs are passed over without a read, so
        thousands of queued runs cost a folder listing, not thousands of manifests."""
        self.local_waiting = False
        now = time.monotonic()
        taken = {s.run_id for s in self.slots if s.run_id}
        room = [s for s in self.slots if s.worker is None and not is_held(self.paths.slot_lock(s.index))]
        for entry in self.queue.entries():
            run_id = self.store.entry_run_id(entry)
            if run_id in taken:
                continue
            if self.retry_at.get(run_id, 0.0) > now or (self.executors.get(run_id) == "local" and not room):
                self.local_waiting = True
                continue
            record = self.queued_record(entry, run_id)
            if record is None:
                continue
            executor = record.manifest.get("executor")
            if isinstance(executor, dict) and executor.get("kind") == "ray":
                self.executors[run_id] = "ray"
                self.dispatch_ray(record, executor)
                continue
            self.executors[run_id] = "local"
            self.local_waiting = True
            slot = self.free_slot(record.config.device, room)
            if slot is not None:
                room.remove(slot)
                self.start(slot, run_id, record.config.device)
            # else: a later run may want a free slot of another device

    def queued_record(self, entry: str, run_id: str):
        """The run of a queue entry if it is queued and nobody holds it; an entry of a run that
        is gone or over is removed."""
        try:
            record = self.store.load(run_id)
        except (StoreError, ConfigError) as exc:
            self.log(f"queue: dropped {entry} ({exc})")
            (self.store.queue_dir / entry).unlink(missing_ok=True)
            return None
        if record.saved_status != "queued":
            if not record.worker_alive:
                (self.store.queue_dir / entry).unlink(missing_ok=True)
            return None
        return None if record.worker_alive else record  # held: a worker of an earlier scheduler is claiming it

    def dispatch_ray(self, record, executor: dict) -> None:
        from engine.jobs.ray_executor import RayExecutor, RaySettings

        try:
            settings = RaySettings.from_manifest(executor)
        except (KeyError, TypeError, ValueError):
            self.store.fail_queued(record.id, "its Ray settings are unreadable")
            return
        if self.ray is not None and self.ray.address != settings.address:
            if self.ray.in_flight():
                return  # one cluster at a time: this run waits for the other cluster's runs
            self.ray.close()
            self.ray = None
        if self.ray is None:
            if time.monotonic() < self.ray_retry_at:
                return
            candidate = RayExecutor(settings.address, self.log)
            try:
                candidate.open()
            except Exception as exc:
                self.log(f"ray: cannot join {settings.address}: {type(exc).__name__}: {exc}")
                self.failures[record.id] = self.failures.get(record.id, 0) + 1
                if self.failures[record.id] >= 3:
                    self.store.fail_queued(record.id, f"the Ray cluster at {settings.address} cannot be reached")
                self.ray_retry_at = time.monotonic() + 10.0
                candidate.close()
                return
            self.ray = candidate
        from engine.jobs.ray_executor import run_device

        if not self.ray.has_room(settings, run_device(record.config.device, self.ray.capacity or {})):
            return
        writer = self.queue.claim(record.id)
        if writer is not None:
            self.ray.start(writer, settings)

    def start(self, slot: Slot, run_id: str, wanted: str) -> None:
        wanted = (wanted or "auto").lower()
        # The slot's own device for `auto`, or for `cuda` on a CUDA slot; else exactly what the run
        # asked for (a run asking for cuda on a machine without one fails there with the reason).
        device = slot.device if wanted == "auto" or (wanted == "cuda" and slot.device.startswith("cuda")) else wanted
        assignment = {"run": run_id, "device": device, "slot": str(self.paths.slot_lock(slot.index)),
                      "threads": self.threads_for(slot)}
        ensure_folder(self.paths.slot_lock(slot.index).parent)
        if self.spare is not None and self.spare.poll_ready():
            proc = self.spare.proc
            self.spare = None
            try:
                proc.stdin.write((json.dumps(assignment) + "\n").encode())
                proc.stdin.close()
            except OSError:
                proc = None
        else:
            proc = None
        if proc is None:
            argv = [sys.executable, "-m", "engine.jobs.worker", "--data-dir", str(self.store.data_dir), "--run", run_id,
                    "--device", device, "--slot", assignment["slot"]]
            if assignment["threads"]:
                argv += ["--threads", str(assignment["threads"])]
            prepare_log(self.paths.log)
            proc = spawn_detached(argv, self.paths.log)
        slot.worker, slot.run_id = proc, run_id
        self.log(f"run {run_id} -> slot {slot.index} ({device}), worker {proc.pid}")

    def reap(self) -> None:
        for slot in self.slots:
            if slot.worker is None or slot.worker.poll() is None:
                continue
            code, run_id = slot.worker.returncode, slot.run_id
            slot.worker, slot.run_id = None, None
            self.dirty = True
            self.log(f"run {run_id}: worker exited with code {code}")
            if code not in QUIET_EXITS:
                self.worker_failed(run_id, code)
        if self.spare is not None and self.spare.proc.poll() is not None:
            code = self.spare.proc.returncode
            self.log(f"spare worker exited with code {code}")
            self.spare = None
            if code != 0:
                self.spare_failures += 1
                self.spare_retry_at = time.monotonic() + min(SPARE_BACKOFF_LIMIT, BACKOFF_SECONDS * 2 ** self.spare_failures)
                if self.detected is None and self.spare_failures >= WORKER_FAILURES_ALLOWED - 1:
                    # No worker ever said what this machine has: one CPU slot, so each queued
                    # run is tried, and ends failed with the reason rather than waiting forever.
                    self.log("no worker starts; trying the queued runs on one CPU slot")
                    self.detected = {"cuda": 0, "mps": False, "cpus": os.cpu_count() or 1}

    def worker_failed(self, run_id: str, code: int) -> None:
        """A worker that crashed (any exit but the EXIT_ ones, a signal included). A run it had
        claimed ends interrupted at once (the reconciler); a run still queued waits, longer each
        time, and after WORKER_FAILURES_ALLOWED failures is marked failed: never a respawn loop."""
        self.queue.reconcile([run_id])
        count = self.failures[run_id] = self.failures.get(run_id, 0) + 1
        if count >= WORKER_FAILURES_ALLOWED:
            reason = f"its worker failed {count} times (last exit code {code}) before training; see {self.paths.log}"
            if self.store.fail_queued(run_id, reason):
                self.log(f"run {run_id}: marked failed ({reason})")
            return
        self.retry_at[run_id] = time.monotonic() + BACKOFF_SECONDS * 2 ** (count - 1)

    def keep_spare(self) -> None:
        wanted = self.local_waiting or self.clients_present()
        if self.spare is None and wanted and not self.stopping and time.monotonic() >= self.spare_retry_at:
            argv = [sys.executable, "-m", "engine.jobs.worker", "--data-dir", str(self.store.data_dir), "--spare"]
            prepare_log(self.paths.log)
            proc = spawn_detached(argv, self.paths.log, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.spare = Spare(proc)
        elif self.spare is not None and not wanted:
            self.retire_spare()

    def retire_spare(self) -> None:
        if self.spare is None:
            return
        try:
            self.spare.proc.stdin.close()  # end of input: the spare exits without training
        except OSError:
            pass
        try:
            self.spare.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.spare.proc.kill()
        self.spare = None


def prepare_log(path: Path) -> None:
    """The log is appended to by every process: something other than a file there (a FIFO would
    block the open, a folder refuse it) is set aside first."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode):
        set_aside(path)


def _rotate_log(path: Path) -> None:
    prepare_log(path)
    try:
        if path.stat().st_size > LOG_LIMIT_BYTES:
            os.replace(path, path.with_suffix(".log.1"))
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.jobs.scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)
    store = RunStore(args.data_dir)
    paths = SchedulerPaths.of(store)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        lock = try_lock(paths.lock)
        if lock is None:
            return 0  # another scheduler serves this data directory
        _rotate_log(paths.log)
        scheduler = Scheduler(store, lock)
        signal.signal(signal.SIGTERM, lambda *_: setattr(scheduler, "stopping", True))
        scheduler.run()
        lock.release()
        # A run submitted while we decided to leave is not lost: look once more, after letting go.
        if scheduler.stopping or not store.queue_entries():
            return 0


if __name__ == "__main__":
    sys.exit(main())
