"""Reading YAML the same way everywhere (config files, ``key=value`` overrides, game files).

- numbers in exponent form without a dot (``1e-3``, ``2e6``) are numbers, as in YAML 1.2 and
  JSON (YAML 1.1 reads them as strings); quote a value to keep it a string;
- a key given twice in one mapping is an error naming both lines (YAML would keep the last);
- self-referencing aliases, non-text files and syntax errors are errors naming the file.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class YamlError(ValueError):
    """The text is not YAML this project accepts; the message names where and why."""


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.setdefault(key, line)
                except TypeError:  # unhashable key: SafeConstructor reports it
                    continue
                if first != line:
                    raise YamlError(f"line {line}: key {key!r} is given twice (first on line "
                                    f"{first}); give each key once")
        return super().construct_mapping(node, deep=deep)


# YAML 1.2's float: also ``1e3`` and ``-2E-5`` (no dot needed).
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _check_acyclic(x: Any, where: str, stack: tuple = ()) -> None:
    if isinstance(x, (dict, list)):
        if any(x is s for s in stack):
            raise YamlError(f"{where}: an alias refers to itself (a recursive structure)")
        for v in (x.values() if isinstance(x, dict) else x):
            _check_acyclic(v, where, stack + (x,))


def loads(text: str, where: str = "value") -> Any:
    """Parse YAML text; ``YamlError`` names ``where`` and the problem."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except YamlError as e:
        raise YamlError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        raise YamlError(f"{where}: not valid YAML ({e})") from None
    except RecursionError:
        raise YamlError(f"{where}: nested too deeply") from None
    _check_acyclic(data, where)
    return data


def load_file(path) -> Any:
    """Parse a YAML file; ``YamlError`` for a file that is not UTF-8 text or not valid YAML."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise YamlError(f"{path}: not a text file (not UTF-8)") from None
    if "\x00" in text:
        raise YamlError(f"{path}: not a text file (contains NUL bytes)")
    return loads(text, str(path))
