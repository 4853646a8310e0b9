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


#: Exit status of ``fidec train`` stopped by SIGTERM or SIGUSR1 after saving a checkpoint: ``EX_TEMPFAIL`` of
#: ``sysexits.h`` ("try again later"), which batch schedulers and service managers read as "requeue".
EXIT_PREEMPTED = 75


class Preempted(KeyboardInterrupt):
    """Training stopped on a stop request (SIGTERM, SIGUSR1) at a chunk boundary, after saving a checkpoint; the
    message names the signal, the step saved and the command that continues the run.

    A stop request, not an error: code that handles Ctrl-C treats it alike (a sweep job is then recorded as
    interrupted and resumed by the next sweep); ``fidec train`` exits with :data:`EXIT_PREEMPTED`."""

    exit_status = EXIT_PREEMPTED
