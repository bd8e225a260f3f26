"""Device selection: `auto` picks CUDA, then MPS, then CPU; an explicit device must exist.

`check_device_name` and `host_memory_bytes` need no torch, so clients check what a user typed
without paying for it; everything that asks the hardware imports torch when called."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from engine.errors import DeviceError

if TYPE_CHECKING:
    import torch

ACCEPTED = "auto, cpu, cuda, cuda:N, mps"
_NAME = re.compile(r"^(auto|cpu|mps|cuda|cuda:\d+)$")


def check_device_name(name: str) -> str:
    """The device name normalised, or DeviceError for one no machine has."""
    normal = (name or "auto").strip().lower()
    if not _NAME.match(normal):
        raise DeviceError(f"unknown device {name!r} (accepted: {ACCEPTED})")
    return normal


def needs_hardware_check(name: str) -> bool:
    """auto and cpu always exist; cuda and mps must be looked up (with torch)."""
    return check_device_name(name) not in ("auto", "cpu")


def host_memory_bytes() -> int | None:
    """Memory available to a CPU run, from the kernel (no torch)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def select_device(name: str = "auto") -> "torch.device":
    import torch

    name = check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise DeviceError("mps is not available on this machine (accepted: " + ACCEPTED + ")")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"{name} is not available: this torch sees no CUDA GPU (accepted: {ACCEPTED})")
        index = name.partition(":")[2]
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise DeviceError(f"{name} does not exist: {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device(name)
    raise DeviceError(f"unknown device {name!r} (accepted: {ACCEPTED})")


def describe_device(device: "torch.device") -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def available_memory_bytes(device: "torch.device") -> int | None:
    """Free memory where a run's tensors will live, or None when it cannot be told."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return host_memory_bytes()
    return None
