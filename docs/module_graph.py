#!/usr/bin/env python3
"""Draws the crate's module graph from the code: which module uses which.

Reads the `mod` declarations under src/ for the tree, and the `use crate::...`, `use super::...`
and `crate::a::b` paths of each file for the edges. Prints a Mermaid flowchart (GitHub renders
it), for docs/ARCHITECTURE.md:

    python3 docs/module_graph.py > /tmp/graph.mmd

Edges are drawn between the modules shown (top level, and the app's modules one level down);
uses inside one of them are left out.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
# Modules drawn with their children.
EXPANDED = {"app"}


def module_of(path: Path) -> list[str]:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def shown(parts: list[str]) -> str:
    """The node a module is drawn as."""
    if not parts:
        return "crate"
    if parts[0] in EXPANDED:
        return "::".join(parts[:2]) if len(parts) > 1 else parts[0] + "::mod"
    return parts[0]


def resolve(current: list[str], path: str, is_mod_file: bool) -> list[str] | None:
    """The module path of a `use` path seen in module `current`."""
    segments = [s for s in path.split("::") if s]
    if not segments:
        return None
    if segments[0] == "crate":
        return segments[1:]
    if segments[0] == "super":
        base = list(current)
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
        return base + segments
    if segments[0] == "self":
        return list(current) + segments[1:]
    return None


USE = re.compile(r"\buse\s+((?:crate|super|self)(?:::\w+)*)(?:::\{([^;]*)\})?", re.S)
INLINE = re.compile(r"\bcrate((?:::\w+)+)")


def main() -> None:
    edges: set[tuple[str, str]] = set()
    nodes: set[str] = set()
    known = set()
    for path in sorted(SRC.rglob("*.rs")):
        parts = module_of(path)
        if path.name == "main.rs":
            continue
        known.add(tuple(parts))
    for path in sorted(SRC.rglob("*.rs")):
        if path.name == "main.rs":
            continue
        parts = module_of(path)
        here = shown(parts)
        nodes.add(here)
        text = path.read_text()
        # Tests may reach anywhere; the graph is of the code proper.
        text = text.split("#[cfg(test)]")[0]
        targets = []
        for m in USE.finditer(text):
            base, group = m.group(1), m.group(2)
            if group:
                for item in group.split(","):
                    item = item.strip().split(" as ")[0].split("::{")[0]
                    if item and item not in ("self",):
                        targets.append(f"{base}::{item}")
                    elif item == "self":
                        targets.append(base)
            else:
                targets.append(base)
        targets += ["crate" + m.group(1) for m in INLINE.finditer(text)]
        for target in targets:
            resolved = resolve(parts, target, path.name == "mod.rs")
            if not resolved:
                continue
            # Trim to the longest known module prefix.
            while resolved and tuple(resolved) not in known:
                resolved = resolved[:-1]
            there = shown(resolved)
            if there not in ("crate", here) and not here.startswith(there + "::"):
                edges.add((here, there))
    nodes.discard("crate")
    out = sys.stdout
    out.write("flowchart LR\n")
    for group in sorted(EXPANDED):
        members = sorted(n for n in nodes if n.startswith(group + "::") or n == group)
        out.write(f"  subgraph {group}_modules[{group}]\n")
        for n in members:
            out.write(f"    {n.replace('::', '_')}[\"{n.split('::')[-1]}\"]\n")
        out.write("  end\n")
    for n in sorted(nodes):
        if n.split("::")[0] not in EXPANDED:
            out.write(f"  {n}\n")
    for a, b in sorted(edges):
        out.write(f"  {a.replace('::', '_')} --> {b.replace('::', '_')}\n")


if __name__ == "__main__":
    main()
