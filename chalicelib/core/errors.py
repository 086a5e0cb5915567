"""`UsageError`: bad input to a command (not to the registry), printed as one line, exit 2."""


class UsageError(Exception):
    pass
