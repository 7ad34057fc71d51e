"""Reading YAML files people wrote: UTF-8 text only, `yaml.safe_load`, no key written twice.

PyYAML keeps the last of two equal keys in a mapping without a word; a study file with two
`sam:` methods would silently lose one. Here a repeated key is an error naming it and its line.

Example:
    >>> load_yaml("a: 1\\nb: {c: 2}\\n")
    {'a': 1, 'b': {'c': 2}}
    >>> load_yaml("a: 1\\na: 2\\n", source="x.yaml")
    Traceback (most recent call last):
    samtrain.errors.ConfigError: x.yaml: line 2: key 'a' is written twice in the same mapping
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from samtrain.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that rejects a key repeated within one mapping, at any depth."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:  # unhashable key: let PyYAML report it
                break
            if repeated:
                raise _Repeated(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Repeated(Exception):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


def load_yaml(text: str, source: str = "<string>") -> Any:
    """`yaml.safe_load(text)` that also rejects repeated keys; errors are one-line `ConfigError`s."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _Repeated as e:
        raise ConfigError(f"{source}: line {e.line}: key {e.key!r} is written twice in the same "
                          "mapping") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(e).split())}") from None


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of the file `path`; `what` (e.g. "config") names it in errors.

    Example:
        >>> read_text("/nonexistent.yaml", "config")
        Traceback (most recent call last):
        samtrain.errors.ConfigError: config: file '/nonexistent.yaml' does not exist
    """
    p = Path(path)
    if not p.is_file():
        kind = "is a directory, not a file" if p.is_dir() else "does not exist"
        raise ConfigError(f"{what}: file {str(p)!r} {kind}")
    data = p.read_bytes()
    if b"\x00" in data:
        raise ConfigError(f"{what}: file {str(p)!r} is binary (it holds NUL bytes), not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what}: file {str(p)!r} is not UTF-8 text (byte 0x{data[e.start]:02x} "
                          f"at offset {e.start})") from None
