"""YAML documents as dicts and lists that remember their line numbers (from PyYAML node marks).

The policy reader needs to name the line of a bad value; PyYAML's composed nodes carry marks,
which are kept here on the containers: `YMap.line`, `YMap.key_line(k)`, `YList.line`,
`YList.item_line(i)`.
"""

from __future__ import annotations

from typing import Any

import yaml


class YMap(dict[str, Any]):
    """A mapping with the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def key_line(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class YList(list[Any]):
    """A sequence with the line of itself and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def _convert(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = YMap()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node, deep=True))
            out[key] = _convert(value_node, loader)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = YList(_convert(item, loader) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq
    return loader.construct_object(node, deep=True)


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, containers as YMap/YList (yaml.YAMLError on bad syntax)."""
    loader = yaml.SafeLoader(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(_convert(node, loader))
        return docs
    finally:
        loader.dispose()
