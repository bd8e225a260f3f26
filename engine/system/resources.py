"""What a training process uses, as W&B's system panel shows it: CPU %, resident memory, and on
CUDA the GPU's utilisation and the memory the process holds there.

Read from outside the worker (the run's manifest names its pid and host), so any client (`jobs`,
the app) can show it without the worker writing anything: /proc for CPU and memory (Linux; no
psutil needed), NVML through the optional `nvidia-ml-py` package for the GPU. Where either is
missing (another host, macOS, no NVML) the numbers are None, never an error.

CPU % is a rate: it needs two readings of a process's CPU time. A `ResourceSampler` keeps the
previous reading per pid, so a client that samples every second or so gets the share of the last
interval; its first reading of a pid has no CPU % yet."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ResourceSample:
    cpu_percent: float | None  # of one core (400 = four cores busy), as top shows it
    rss_bytes: int | None
    gpu_util_percent: float | None = None  # the whole GPU's, over NVML's last sample period
    gpu_memory_bytes: int | None = None  # what this process holds on the GPU

    def to_json(self) -> dict:
        return {"cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
                "rss_bytes": self.rss_bytes, "gpu_util_percent": self.gpu_util_percent,
                "gpu_memory_bytes": self.gpu_memory_bytes}

    def describe(self) -> str:
        """`cpu 98% · 312 MiB` (`· gpu 87% 1.2 GiB` on CUDA): '' when nothing is known."""
        parts = []
        if self.cpu_percent is not None:
            parts.append(f"cpu {self.cpu_percent:.0f}%")
        if self.rss_bytes is not None:
            parts.append(format_bytes(self.rss_bytes))
        if self.gpu_util_percent is not None or self.gpu_memory_bytes is not None:
            gpu = "gpu"
            if self.gpu_util_percent is not None:
                gpu += f" {self.gpu_util_percent:.0f}%"
            if self.gpu_memory_bytes is not None:
                gpu += f" {format_bytes(self.gpu_memory_bytes)}"
            parts.append(gpu)
        return " · ".join(parts)


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit in ("B", "KiB", "MiB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc/<pid>/stat (None: gone, or not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read(4096).decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rfind(")") + 2:].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    except (IndexError, ValueError):
        return None


def _rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read(256).split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def _cuda_index(device: str | None) -> int | None:
    if not device or not device.startswith("cuda"):
        return None
    _, _, index = device.partition(":")
    return int(index) if index.isdigit() else 0


class _Nvml:
    """NVML, initialised once on first use; unavailable (no package, no driver) is remembered."""

    def __init__(self):
        self.module = None
        self.tried = False

    def get(self):
        if not self.tried:
            self.tried = True
            try:
                import pynvml  # the nvidia-ml-py package

                pynvml.nvmlInit()
                self.module = pynvml
            except Exception:  # ImportError, or NVMLError without a driver
                self.module = None
        return self.module


_NVML = _Nvml()


def gpu_usage(pid: int, device: str | None) -> tuple[float | None, int | None]:
    """(utilisation %, memory this pid holds) of the CUDA device, or (None, None)."""
    index = _cuda_index(device)
    if index is None:
        return None, None
    nvml = _NVML.get()
    if nvml is None:
        return None, None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        util = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        memory = None
        for process in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if process.pid == pid and isinstance(process.usedGpuMemory, int):
                memory = process.usedGpuMemory
        return util, memory
    except Exception:  # NVMLError: the device went away, permissions, a container without PID info
        return None, None


def is_this_host(host: str | None) -> bool:
    return bool(host) and host == socket.gethostname()


class ResourceSampler:
    """Samples processes; keeps each pid's last CPU reading so the next gives a CPU %."""

    def __init__(self):
        self._last: dict[int, tuple[float, float]] = {}  # pid -> (monotonic time, cpu seconds)

    def sample(self, pid: int | None, host: str | None = None, device: str | None = None) -> ResourceSample | None:
        """None where the process cannot be seen from here (another host, no pid, gone)."""
        if not isinstance(pid, int) or pid <= 0 or (host is not None and not is_this_host(host)):
            return None
        cpu = _cpu_seconds(pid)
        if cpu is None:
            self._last.pop(pid, None)
            return None
        now = time.monotonic()
        previous = self._last.get(pid)
        self._last[pid] = (now, cpu)
        percent = None
        if previous is not None and now > previous[0]:
            percent = max(0.0, 100.0 * (cpu - previous[1]) / (now - previous[0]))
        util, memory = gpu_usage(pid, device)
        return ResourceSample(percent, _rss_bytes(pid), util, memory)

    def forget_others(self, pids: set[int]) -> None:
        for pid in set(self._last) - pids:
            del self._last[pid]
