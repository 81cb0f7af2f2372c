"""Errors a user can fix: the CLI prints them as one line, without a traceback."""


class IsyaratError(Exception):
    """A problem with the user's input (path, data, model, config) and how to fix it."""
