"""The students' notebooks, executed: every check fails on its stub, and nothing else fails.

Run by ``make student-check`` (part of ``make test``): it builds the students' copies
(``kdcourse.student.build``) and executes each in the smoke profile with errors allowed.
Every cell that calls ``exercises.check`` must end in ``NotAnswered``, ``Wrong`` or the stub's
``NotImplementedError`` (so no check passes vacuously, and none fails for an unrelated reason such
as a ``NameError``); every other cell must run cleanly.  The instructor's notebooks, with their
solutions, run under nbval, where every check must pass.
"""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kdcourse import config, student

NOTEBOOKS = sorted((config.REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = {"NotAnswered", "Wrong", "NotImplementedError"}


def stub_problems(instructor: Path, out_dir: Path) -> list[str]:
    """Build the student's copy of ``instructor`` in ``out_dir``, execute it, and list what is wrong: a check
    that passes on its stub or fails for another reason, a non-check cell that fails, an exercise never checked."""
    (target,) = student.build(out_dir, [instructor])
    nb = nbformat.read(target, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(config.REPO / "notebooks")}}).execute()
    problems, checked = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        keys = student.CHECK_CALL.findall(cell.source)
        if keys:
            names = {e.ename for e in errors}
            if not names or not names <= EXPECTED:
                problems.append(f"cell {i} (check of {keys}) should fail on the stub with one of {sorted(EXPECTED)}, "
                                f"got {sorted(names) or 'no error'} {[e.evalue[:200] for e in errors]}")
            checked += keys
        elif errors:
            problems.append(f"cell {i} is not a check but failed: {errors[0].ename}: {errors[0].evalue[:200]} "
                            f"in {cell.source[:80]!r}")
    missing = sorted(set(student.exercise_map(nb)) - set(checked))
    if missing:
        problems.append(f"exercises never checked: {missing}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_checks_fail_on_their_stubs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_PROFILE", "smoke")
    monkeypatch.setenv("KDCOURSE_FIGURES", str(tmp_path / "figures"))
    assert stub_problems(path, tmp_path / "student") == [], path.name


def test_the_stub_test_catches_a_check_that_passes_vacuously(tmp_path, monkeypatch):
    """The meta-check: a grader that accepts anything, and a cell that fails for an unrelated reason, are caught."""
    monkeypatch.setenv("KDCOURSE_PROFILE", "smoke")
    register = ('from kdcourse import exercises\n'
                '@exercises.exercise("01.97", "easy", "accepts anything")\n'
                'def _(answer):\n    return "fine"\n'
                '@exercises.exercise("01.98", "easy", "a real check")\n'
                'def _(answer):\n    exercises.close(answer, 42, what="the answer")\n')
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(register),
                nbformat.v4.new_markdown_cell("### Exercise 01.97 (easy): vacuous"),
                nbformat.v4.new_code_cell("a = 1\n", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell('exercises.check("01.97", a or "x")'),
                nbformat.v4.new_markdown_cell("### Exercise 01.98 (easy): honest"),
                nbformat.v4.new_code_cell("b = 42\n", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell('exercises.check("01.98", b)'),
                nbformat.v4.new_code_cell("undefined_name + 1")]
    path = tmp_path / "01_toy.ipynb"
    nbformat.write(nb, path)
    problems = stub_problems(path, tmp_path / "student")
    assert len(problems) == 2, problems
    assert "01.97" in problems[0] and "no error" in problems[0]        # the vacuous check is caught
    assert "NameError" in problems[1]                                   # so is a cell failing for another reason
