"""Errors a user can cause (bad file, missing setting, database down): one clear line, no traceback."""


class UserError(Exception):
    """Raised for problems the user can fix; the CLI prints the message and exits with ``exit_code``."""

    exit_code = 2


class LockBusyError(UserError):
    """Another cycle holds the lock."""

    exit_code = 3


class StepFailedError(UserError):
    """A step of the cycle failed (dbt test, segmentation...)."""

    exit_code = 4
