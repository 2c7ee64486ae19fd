"""The one exception type the command line turns into a one-line message."""


class ElmoError(Exception):
    """A problem with the user's input (files, options, arguments), not a bug."""
