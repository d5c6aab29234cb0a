# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
No import circle in the lago_ros package: read every module's imports with ast, look for loops.

Imports inside functions count too: a lazy import still ties the two modules together. Only the
imports a module names are edges (not the parent packages Python loads on the way).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path) -> str:
    """Return the dotted name of module `path` under `root` ('pkg/sub/__init__.py': 'pkg.sub')."""
    parts = list(path.relative_to(root).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path: Path, root: Path, known: set[str]) -> set[str]:
    """Return the modules of `known` that the file at `path` imports, anywhere in its body."""
    name = module_name(path, root)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            # 'from pkg import sub' imports the submodule pkg.sub when there is one.
            targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition('.')[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Return {module: modules it imports} for every .py file of the package at `package_dir`."""
    root = package_dir.parent
    files = sorted(package_dir.rglob('*.py'))
    known = {module_name(path, root) for path in files}
    return {module_name(path, root): imported_modules(path, root, known) for path in files}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_lago_ros_has_no_import_cycle():
    graph = import_graph(ROOT / 'lago_ros')
    assert 'lago_ros.envs.registry' in graph and graph['lago_ros.envs.registry']
    cycles = find_cycles(graph)
    assert not cycles, 'modules that import each other in a circle: ' + '; '.join(
        ' <-> '.join(group) for group in cycles)


def test_cycle_finder_sees_lazy_relative_and_from_imports(tmp_path):
    pkg = tmp_path / 'pkg'
    (pkg / 'sub').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'sub' / '__init__.py').write_text('')
    (pkg / 'a.py').write_text('from pkg.sub import b\n')
    (pkg / 'sub' / 'b.py').write_text('def f():\n    from .c import g\n    return g\n')
    (pkg / 'sub' / 'c.py').write_text('import json\nfrom .. import a\n')
    (pkg / 'leaf.py').write_text('import pkg.sub.c\n')
    graph = import_graph(pkg)
    assert graph['pkg.a'] == {'pkg.sub.b'} and graph['pkg.sub.b'] == {'pkg.sub.c'}
    assert graph['pkg.sub.c'] == {'pkg.a'} and graph['pkg.leaf'] == {'pkg.sub.c'}
    assert find_cycles(graph) == [['pkg.a', 'pkg.sub.b', 'pkg.sub.c']]
    (pkg / 'sub' / 'c.py').write_text('import json\n')
    assert find_cycles(import_graph(pkg)) == []
