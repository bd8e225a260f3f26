"""Errors the engine raises for bad input: one line that names the field and what is accepted."""


class SupertuiError(Exception):
    """Base class of every error a user can cause; the CLI prints it as one line and exits 2."""


class ConfigError(SupertuiError, ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class StoreError(SupertuiError):
    """A run folder that is missing, corrupt or foreign."""


class DeviceError(ConfigError):
    def __init__(self, message: str):
        super().__init__("device", message)
