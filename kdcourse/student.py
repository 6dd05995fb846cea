"""The students' notebooks: ``python -m kdcourse student`` (``make student``).

The instructor's notebook in ``notebooks/`` carries each exercise's worked
solution in a code cell tagged ``solution``.  The student's copy replaces that
cell by a stub: every name the solution assigns at top level becomes ``None``,
every function it defines keeps its signature and docstring and raises
``NotImplementedError``, and imports are kept.  A cell may give its own stub
in ``metadata["kdcourse"]["stub"]``.  Every other cell, the checks included, is
kept; outputs are cleared so the student starts from a clean notebook.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from . import config
from .io import atomic_write_text

SOLUTION_TAG = "solution"
CHECK_CALL = re.compile(r"exercises\.check\(\s*[\"'](\d\d\.\d+)[\"']")
HEADING = re.compile(r"^#{2,4}\s*Exercise\s+(\d\d\.\d+)\s*\((easy|medium|hard)\)", re.M)


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _names(elt)]
    if isinstance(target, ast.Starred):
        return _names(target.value)
    return []


def stub(source: str, key: str | None = None) -> str:
    """The student's stub for a solution cell's ``source`` (see the module docstring)."""
    tree = ast.parse(source)
    label = f"exercise {key}" if key else "this exercise"
    out = [f"# {label}: your solution here. Replace each None (or the NotImplementedError) and run the check below."]
    done: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(ast.get_source_segment(source, node))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name not in done:
            done.add(node.name)
            if isinstance(node, ast.ClassDef):
                out.append(f"{node.name} = None")
                continue
            header = source.splitlines()[node.lineno - 1: node.body[0].lineno - 1]   # "def f(...):" lines
            doc = ast.get_docstring(node, clean=False)
            body_indent = " " * node.body[0].col_offset
            lines = list(header)   # decorators are dropped: the stub is a plain function
            if doc is not None:
                lines.append(ast.get_source_segment(source, node.body[0]).join([body_indent, ""]))
            lines.append(f'{body_indent}raise NotImplementedError("{label}: write this function")')
            out.append("\n".join(lines))
        else:
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            for t in targets:
                for name in _names(t):
                    if name not in done:
                        done.add(name)
                        out.append(f"{name} = None")
    if not done:
        raise ValueError(f"the solution cell of {label} assigns no name and defines no function, so its stub "
                         "would leave nothing for the check to grade; assign the answer to a name")
    return "\n".join(out) + "\n"


def _key_of(cells, i: int) -> str | None:
    """The exercise a solution cell belongs to: the nearest exercise heading above it."""
    for c in reversed(cells[:i]):
        if c.cell_type == "markdown":
            m = HEADING.search(c.source)
            if m:
                return m.group(1)
    return None


def is_solution(cell) -> bool:
    return cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", [])


def student_copy(nb):
    """A student's copy of the instructor's notebook ``nb`` (a new object; ``nb`` is untouched)."""
    out = nbformat.from_dict(nb)
    cells = []
    for i, cell in enumerate(out.cells):
        cell = nbformat.from_dict(cell)
        if is_solution(cell):
            key = _key_of(out.cells, i)
            custom = cell.metadata.get("kdcourse", {}).get("stub")
            cell.source = custom if custom is not None else stub(cell.source, key)
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != SOLUTION_TAG] + ["exercise"]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    out.cells = cells
    return out


def build(out_dir: Path | None = None, notebooks: list[Path] | None = None) -> list[Path]:
    """Write the students' copies of ``notebooks`` (default: all of notebooks/) to ``out_dir``."""
    out_dir = Path(out_dir or config.REPO / "build" / "student")
    notebooks = notebooks or sorted((config.REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        copy = student_copy(nb)
        target = out_dir / Path(path).name
        atomic_write_text(target, nbformat.writes(copy))
        written.append(target)
    return written


def exercise_map(nb) -> dict[str, dict]:
    """Per exercise key: its level (from the heading), and how many solution and check cells it has."""
    found: dict[str, dict] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for m in HEADING.finditer(cell.source):
                found.setdefault(m.group(1), {"level": m.group(2), "solutions": 0, "checks": 0})
        elif is_solution(cell):
            key = _key_of(nb.cells, i)
            found.setdefault(key, {"level": None, "solutions": 0, "checks": 0})["solutions"] += 1
        elif cell.cell_type == "code":
            for key in CHECK_CALL.findall(cell.source):
                found.setdefault(key, {"level": None, "solutions": 0, "checks": 0})["checks"] += 1
    return found
