"""The base of every error the package raises on purpose: bad input, unusable stores, missing
weights. The CLI prints these as one line and exits with status 2; anything else is a bug and
keeps its traceback."""


class CycleganError(Exception):
    """An expected failure whose message tells the user what to fix."""
