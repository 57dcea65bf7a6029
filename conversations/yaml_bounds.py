"""YAML for checklists and policies, with bounds a hostile or mistaken file cannot pass.

PyYAML shares aliased nodes, so a few lines of nested aliases (`b: [*a,*a,…]`) describe
a document of billions of nodes that every walk over it then expands; and each nesting
level costs a Python stack frame in the composer and in the checklist's condition
compiler. A file is refused before it is built when it is larger than MAX_BYTES, nests
deeper than MAX_DEPTH, or would expand to more than MAX_NODES nodes.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 512 * 1024
MAX_DEPTH = 40
MAX_NODES = 200_000


class YamlBoundsError(ValueError):
    """The file is too big, too deep or expands too far; the message says which."""


class _BoundedLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        depth = getattr(self, "_depth", 0) + 1
        if depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YamlBoundsError(f"nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
        self._depth = depth
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth = depth - 1


def _expanded_size(root: Node) -> int:
    """Nodes the document has once every alias is expanded (shared nodes counted per use)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[id(node)] = total
            if total > MAX_NODES:
                return total
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_bounded(text: str) -> Any:
    """yaml.safe_load with the bounds above; raises YamlBoundsError or yaml.YAMLError."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise YamlBoundsError(f"larger than {MAX_BYTES // 1024} KB")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise YamlBoundsError(f"aliases expand to more than {MAX_NODES:,} nodes")
        return loader.construct_document(node)
    finally:
        loader.dispose()
