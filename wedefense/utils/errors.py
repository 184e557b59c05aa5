"""The one exception type for bad user input.

Entry scripts turn it into a one-line message and a non-zero exit; library callers can catch it.
"""


class InputError(ValueError):
    """Bad input data: the message names the file and, where there is one, the line."""

    def __init__(self, message, path=None, line=None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
