"""User-facing errors: each says what was wrong and what to do next.

The CLI prints ``FidecError`` messages as one line on stderr and exits non-zero; anything else is a bug.
"""


class FidecError(Exception):
    """An error caused by the user's input or environment, with a remedy in its message."""


class DatasetError(FidecError):
    """A dataset is missing, malformed or fails verification."""


class ConfigError(FidecError):
    """A configuration value, agent name, environment name or flag is invalid."""


class NonFiniteLossError(FidecError):
    """Training produced a NaN/inf in a loss term or in the state; the message names the step and where."""


class RunFolderBusy(FidecError):
    """Another process is writing the run folder (it holds the folder's lock)."""


class StorageError(FidecError):
    """A write failed for a reason of the filesystem (full, read-only, no permission); the message names the path,
    what is kept and what to do."""
