"""Issue 10's "done when" rules, as tests that fail when the code breaks them.

(a) Layers point one way.  Every module of kdcourse/ belongs to a layer, and no module imports one of a
    higher layer (relative or absolute imports, at the top of a file or inside a function):

        0  losses, metrics, data, io, config, plots, efficiency, saliency, report, scorecard, baselines
        1  models
        2  engine
        3  distillers, ban
        4  experiments
        5  kdcourse/__init__.py, kdcourse/__main__.py

(b) No function or method in kdcourse/ is longer than 80 lines.
(c) The notebooks' code cells define at most 5 functions or classes in all: tables, adapters and
    verdicts belong in the package.
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kdcourse"
NOTEBOOKS = ROOT / "notebooks"

LAYERS = {
    **dict.fromkeys(["losses", "metrics", "data", "io", "config", "plots", "efficiency", "saliency", "report",
                     "scorecard", "baselines"], 0),
    "models": 1,
    "engine": 2,
    "distillers": 3, "ban": 3,
    "experiments": 4, "exercises": 4,   # an exercise's check may use anything a notebook's measurement does
    "student": 0,                        # notebook surgery (nbformat, ast): imports config and io only
    "__init__": 5, "__main__": 5,
}
MAX_FUNCTION_LINES = 80
MAX_NOTEBOOK_DEFINITIONS = 5


# --------------------------------------------------------------------------- (a) layers
def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``kdcourse.data.core`` for kdcourse/data/core.py; ``kdcourse.data`` for kdcourse/data/__init__.py."""
    parts = ("kdcourse",) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The layer of a kdcourse module (None when it is not part of kdcourse)."""
    parts = module.split(".")
    if parts[0] != "kdcourse":
        return None
    if len(parts) == 1:
        return LAYERS["__init__"]
    return LAYERS.get(parts[1], -1)   # -1: a top-level module no layer was given to


def imported_modules(path: Path, root: Path = PACKAGE, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every kdcourse module that ``path`` imports, anywhere in the file.

    ``from X import a, b`` counts ``X.a`` and ``X.b`` where those are modules of the package (a
    sub-package or a file), else ``X`` itself.
    """
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub, root) else target))
    return [(line, m) for line, m in found if m.split(".")[0] == "kdcourse"]


def _is_module(dotted: str, root: Path) -> bool:
    parts = dotted.split(".")
    if parts[0] != "kdcourse":
        return False
    path = root.joinpath(*parts[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def layer_violations(path: Path, root: Path = PACKAGE, source: str | None = None) -> list[str]:
    own = LAYERS[path.stem] if path.parent == root and path.stem in ("__init__", "__main__") \
        else layer_of(module_name(path, root))
    out = []
    for line, target in imported_modules(path, root, source):
        theirs = layer_of(target)
        if theirs > own:
            out.append(f"{path.relative_to(root.parent)}:{line} (layer {own}) imports {target} (layer {theirs})")
    return out


def test_every_module_has_a_layer():
    top = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in package_files()}
    assert top - set(LAYERS) == set(), "give each new top-level module of kdcourse/ a layer in LAYERS"


def test_layers_point_one_way():
    violations = [v for p in package_files() for v in layer_violations(p)]
    assert violations == [], "a lower layer imports a higher one:\n" + "\n".join(violations)


@pytest.mark.parametrize("where, source, bad", [
    ("engine/loop.py", "from ..experiments import mnist\n", True),                 # relative, two levels up
    ("engine/loop.py", "def f():\n    from .. import distillers\n", True),          # inside a function
    ("engine/loop.py", "import kdcourse.distillers.logit\n", True),                # absolute
    ("engine/loop.py", "from kdcourse import experiments\n", True),
    ("config.py", "def f():\n    import kdcourse\n    return kdcourse.__version__\n", True),  # the package: layer 5
    ("losses/core.py", "from ..models import MLP\n", True),
    ("data/core.py", "from .. import config, io\nfrom .cifar import load_cifar\n", False),
    ("distillers/base.py", "from ..engine.cache import TeacherCache\nfrom .. import losses\n", False),
    ("ban.py", "from .distillers import SoftTargets\n", False),                    # same layer
    ("experiments/mnist.py", "from .. import config, data, models\nfrom . import base\n", False),
    ("__main__.py", "from . import experiments\n", False),
])
def test_the_layer_check_sees_every_kind_of_import(tmp_path, where, source, bad):
    # the check itself, on made-up files: it must catch what (a) forbids, and allow the rest
    root = tmp_path / "kdcourse"
    for real in package_files():          # the package's layout, empty files
        (root / real.relative_to(PACKAGE)).parent.mkdir(parents=True, exist_ok=True)
        (root / real.relative_to(PACKAGE)).touch()
    path = root / where
    path.write_text(source)
    assert bool(layer_violations(path, root)) is bad


# --------------------------------------------------------------------------- (b) function length
def long_functions(path: Path, source: str | None = None, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    return [f"{path.name}:{node.lineno} {node.name} has {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_is_longer_than_80_lines():
    long = [f for p in package_files() for f in long_functions(p)]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_the_length_check_counts_methods_and_nested_functions():
    body = "\n".join(f"        x{i} = {i}" for i in range(79))
    src = f"class A:\n    def short(self):\n        pass\n\n    def long(self):\n{body}\n        return 0\n"
    assert long_functions(Path("m.py"), src) == ["m.py:5 long has 81 lines"]
    assert long_functions(Path("m.py"), src, limit=81) == []
    nested = "def outer():\n    def inner():\n" + "\n".join(f"        y = {i}" for i in range(90)) + "\n    return 1\n"
    assert [f.split()[1] for f in long_functions(Path("m.py"), nested)] == ["outer", "inner"]


# --------------------------------------------------------------------------- (c) notebooks
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}   # cell magics whose body is Python


def cell_definitions(source: str) -> list[str]:
    """Names of the functions and classes a code cell defines (nested ones too); IPython magics aside."""
    from IPython.core.inputtransformer2 import TransformerManager
    tree = ast.parse(TransformerManager().transform_cell(source))
    names = [node.name for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in ast.walk(tree):   # %%time and friends: the cell's body is Python, count what it defines
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run_cell_magic"
                and len(node.args) == 3 and all(isinstance(a, ast.Constant) for a in node.args)
                and node.args[0].value in PYTHON_CELL_MAGICS):
            names += cell_definitions(node.args[2].value)
    return names


def notebook_definitions() -> dict[str, list[str]]:
    found = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        # an exercise's worked solution (a cell tagged `solution`) is the student's own code: it belongs in the
        # notebook, where `make student` replaces it by a stub
        names = [n for cell in nb.cells if cell.cell_type == "code" and "solution" not in cell.metadata.get("tags", [])
                 for n in cell_definitions(cell.source)]
        if names:
            found[path.name] = names
    return found


def test_the_notebooks_define_at_most_5_functions_or_classes():
    assert sorted(NOTEBOOKS.glob("*.ipynb")), "no notebooks found"
    found = notebook_definitions()
    total = sum(len(v) for v in found.values())
    listing = "\n".join(f"  {nb}: {', '.join(names)}" for nb, names in found.items())
    assert total <= MAX_NOTEBOOK_DEFINITIONS, (
        f"the notebooks' code cells define {total} functions / classes (at most {MAX_NOTEBOOK_DEFINITIONS}); "
        f"move them into the package:\n{listing}")


def test_the_notebook_count_sees_defs_classes_and_magics():
    assert cell_definitions("%matplotlib inline\n!ls\n") == []                       # magics only
    assert cell_definitions("%load_ext autoreload\ndef f():\n    class A: pass\n    return A\n") == ["f", "A"]
    assert cell_definitions("%%time\nclass B:\n    def m(self): pass\n") == ["B", "m"]
    assert cell_definitions("%%bash\necho def f\n") == []
    assert cell_definitions("g = lambda x: x + 1\nasync def h(): pass\n") == ["h"]
