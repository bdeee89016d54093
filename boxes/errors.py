"""Errors that service functions raise and views turn into responses.

- ``ActionError``: bad input; carries field → localized message; the view answers 422 with the
  form and its messages, and nothing was changed.
- ``Conflict``: the row changed since the user loaded it (version column); the view answers 409
  with "changed by someone else" and the fresh row. Never a silent overwrite.
- ``NotFound``: no such row for this dealer; the view answers 404 (other dealers' ids too).
"""

from __future__ import annotations


class NotFound(LookupError):
    pass


class ActionError(ValueError):
    def __init__(self, errors: dict):
        # Messages stay lazy (translated when rendered, in the user's locale).
        super().__init__(", ".join(errors))
        self.errors = errors

    @classmethod
    def field(cls, name: str, message) -> ActionError:
        return cls({name: message})


class Conflict(RuntimeError):
    def __init__(self, current_version: int | None = None):
        super().__init__("changed by someone else")
        self.current_version = current_version
