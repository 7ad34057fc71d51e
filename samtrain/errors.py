"""Every error bad input to samtrain can cause, under one root: `SamtrainError`.

A message is one line naming the key, the value and what is allowed (`ConfigError`), or where
the data was looked for and how to get it (`DatasetNotFound`). This module imports nothing, so
every room of samtrain may raise them, and a launcher (the `sweep` CLI) catches them by class
without importing anything heavy.

Example:
    >>> raise ConfigError("key 'rho': value -1 is invalid: must be >= 0")
    Traceback (most recent call last):
    samtrain.errors.ConfigError: key 'rho': value -1 is invalid: must be >= 0
    >>> isinstance(DatasetNotFound("cifar10: no files"), (SamtrainError, FileNotFoundError))
    True
"""

from __future__ import annotations

__all__ = ["ConfigError", "DatasetNotFound", "SamtrainError"]


class SamtrainError(Exception):
    """Bad input to samtrain; `str(e)` is one line saying what is wrong and what is allowed."""


class ConfigError(SamtrainError, ValueError):
    """Invalid configuration; the message is one line naming the key, the value and what is allowed."""


class DatasetNotFound(SamtrainError, FileNotFoundError):
    """Dataset files are missing; `str(e)` is one line: where it looked and how to get the data.

    Example:
        >>> str(DatasetNotFound("cifar10: no /x/cifar-10-batches-py; set data_dir"))
        'cifar10: no /x/cifar-10-batches-py; set data_dir'
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    def __str__(self) -> str:
        return str(self.args[0])
