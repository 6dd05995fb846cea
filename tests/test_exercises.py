"""The exercises' machinery: check(), the registry, the students' stubs, and every notebook's exercise section."""
from pathlib import Path

import nbformat
import pytest

from kdcourse import config, exercises, student

NOTEBOOKS = sorted((config.REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LEVEL_RANK = {lvl: i for i, lvl in enumerate(exercises.LEVELS)}


@pytest.fixture
def toy_exercise():
    @exercises.exercise("01.99", "easy", "toy: the mean of the context")
    def grade(answer, *, values):
        exercises.close(answer, sum(values) / len(values), abs_=1e-6, what="the mean")
        return "the mean"
    yield "01.99"
    exercises._REGISTRY.pop("01.99")


def test_check_passes_a_right_answer_and_returns_its_verdict(toy_exercise, capsys):
    line = exercises.check(toy_exercise, 2.0, values=[1, 2, 3])
    assert line == "exercise 01.99 (easy): correct - the mean"
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("stub", [None, ..., [None, 1], {"a": None}])
def test_check_refuses_an_unanswered_stub(toy_exercise, stub):
    with pytest.raises(exercises.NotAnswered, match="not answered yet"):
        exercises.check(toy_exercise, stub, values=[1, 2, 3])


def test_check_raises_wrong_with_a_hint(toy_exercise):
    with pytest.raises(exercises.Wrong, match="not within"):
        exercises.check(toy_exercise, 2.5, values=[1, 2, 3])
    with pytest.raises(exercises.Wrong, match="should be a number"):
        exercises.check(toy_exercise, "two", values=[1, 2, 3])
    assert issubclass(exercises.Wrong, AssertionError) and issubclass(exercises.NotAnswered, AssertionError)


def test_unknown_key_and_bad_registrations_are_refused():
    with pytest.raises(KeyError, match="no exercise '02.77'"):
        exercises.check("02.77", 1)
    with pytest.raises(ValueError, match="must look like"):
        exercises.exercise("2.1", "easy", "x")
    with pytest.raises(ValueError, match="level must be one of"):
        exercises.exercise("02.1", "trivial", "x")


def test_stub_keeps_imports_and_signatures_and_blanks_every_answer():
    src = ('import torch\nfrom math import log\n\ndef my_loss(s, t, T=4.0):\n    """Eq. 4."""\n'
           '    return (s - t).pow(2).mean() * T\n\nanswer_02_1, extra = 3, 4\nanswer_02_2: float = 0.5\n'
           'for _ in range(2):\n    pass\n')
    out = student.stub(src, "02.1")
    ns: dict = {}
    exec(out, ns)
    assert ns["answer_02_1"] is None and ns["extra"] is None and ns["answer_02_2"] is None
    assert "import torch" in out and "from math import log" in out and '"""Eq. 4."""' in out
    with pytest.raises(NotImplementedError, match="exercise 02.1"):
        ns["my_loss"](1, 2)
    assert "return" not in out


def test_a_solution_cell_that_assigns_nothing_is_refused():
    with pytest.raises(ValueError, match="assigns no name"):
        student.stub("print('hi')\n", "02.1")


def _toy_notebook():
    nb = nbformat.v4.new_notebook()
    sol = nbformat.v4.new_code_cell("answer = 42\n", metadata={"tags": ["solution"]})
    sol.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    custom = nbformat.v4.new_code_cell("def f(x):\n    return x\n",
                                       metadata={"tags": ["solution"], "kdcourse": {"stub": "def f(x):\n    ...\n"}})
    nb.cells = [nbformat.v4.new_markdown_cell("### Exercise 01.1 (easy): the answer"), sol,
                nbformat.v4.new_code_cell('exercises.check("01.1", answer)'),
                nbformat.v4.new_markdown_cell("### Exercise 01.2 (hard): a function"), custom,
                nbformat.v4.new_code_cell('exercises.check("01.2", f)')]
    return nb


def test_student_copy_replaces_solutions_keeps_checks_and_clears_outputs():
    nb = _toy_notebook()
    copy = student.student_copy(nb)
    assert nb.cells[1].source == "answer = 42\n"                      # the instructor's notebook is untouched
    assert not any(student.is_solution(c) for c in copy.cells)
    assert copy.cells[1].source.splitlines()[-1] == "answer = None" and "exercise 01.1" in copy.cells[1].source
    assert copy.cells[1].outputs == [] and copy.cells[1].metadata["tags"] == ["exercise"]
    assert copy.cells[4].source == "def f(x):\n    ...\n"               # the cell's own stub
    assert [c.source for c in copy.cells if "check(" in c.source] == [c.source for c in nb.cells if "check(" in c.source]
    assert student.exercise_map(nb) == {"01.1": {"level": "easy", "solutions": 1, "checks": 1},
                                        "01.2": {"level": "hard", "solutions": 1, "checks": 1}}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_with_three_to_six_graded_exercises(path):
    nb = nbformat.read(path, as_version=4)
    found = student.exercise_map(nb)
    nbnum = path.name[:2]
    assert 3 <= len(found) <= 6, f"{path.name} has {len(found)} exercises; the course asks for 3-6"
    keys = list(found)
    assert keys == [f"{nbnum}.{i}" for i in range(1, len(keys) + 1)], f"{path.name}: exercises numbered {keys}"
    registered = exercises.registry(nbnum)
    for key, info in found.items():
        assert info["solutions"] == 1 and info["checks"] >= 1, f"{path.name} exercise {key}: {info}"
        assert key in registered, f"{path.name} exercise {key} has no check in kdcourse/exercises/ex{nbnum}.py"
        assert info["level"] == registered[key].level, f"{key}: heading says {info['level']}, check says " \
                                                       f"{registered[key].level}"
    assert sorted(registered) == sorted(found), f"registered {sorted(registered)} vs notebook {sorted(found)}"
    levels = [LEVEL_RANK[found[k]["level"]] for k in keys]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == 2, \
        f"{path.name}: exercises must go easy -> hard, got {[found[k]['level'] for k in keys]}"
    heads = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert heads, f"{path.name} has no '## Exercises' section"
    assert not any(c.cell_type == "markdown" and c.source.startswith("## ") for c in nb.cells[heads[-1] + 1:]), \
        f"{path.name}: the exercises must end the notebook"


def test_make_student_writes_nine_notebooks_without_solutions(tmp_path):
    written = student.build(tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS] and len(written) == 9
    for src, out in zip(NOTEBOOKS, written):
        original, copy = nbformat.read(src, as_version=4), nbformat.read(out, as_version=4)
        assert not any(student.is_solution(c) for c in copy.cells), out.name
        checks = lambda nb: [c.source for c in nb.cells if c.cell_type == "code" and student.CHECK_CALL.search(c.source)]
        assert checks(copy) == checks(original) and checks(copy), out.name
        assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code"), out.name
