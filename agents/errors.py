"""The one-line errors every layer of ``agents`` raises and prints: a bad config value, an exception's first line."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A bad config value: ``<key>=<value>: <what is allowed>`` (the command prints it and exits with status 2).

    :param line: a message already in that form (from a library check, e.g. :mod:`plasticity.registry`): used as
        it is, ``key`` still names the key.
    """

    def __init__(self, key: str, value: Any, expected: str = "", *, line: str | None = None):
        self.key, self.value = key, value
        super().__init__(line if line is not None else f"{key}={value!r}: {expected}")

    @classmethod
    def from_line(cls, line: str) -> ConfigError:
        """From a ``<key>=<value>: <message>`` line (its key is the text before the first ``=``)."""
        return cls(line.partition("=")[0], None, line=line)


def first_line(err: BaseException) -> str:
    """An exception's message cut to its first line (its type's name when it has none): for one-line errors."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
