"""The students' notebooks, executed: every check fails on its stub, and nothing else fails.

Run by ``make student-check`` (part of ``make test``): it builds the students' copies
(``kdcourse.student.build``) and executes each in the smoke profile with errors allowed.
Every cell that calls ``exercises.check`` must end in ``NotAnswered``, ``Wrong`` or the stub's
``NotImplementedError`` (so no check passes vacuously, and none fails for an unrelated reason such
as a ``NameError``); every other cell must run cleanly.  The instructor's notebooks, with their
solutions, run under nbval, where every check must pass.
"""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kdcourse import config, student

NOTEBOOKS = sorted((config.REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = {"NotAnswered", "Wrong", "NotImplementedError"}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("student")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_checks_fail_on_their_stubs(path, student_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_PROFILE", "smoke")
    monkeypatch.setenv("KDCOURSE_FIGURES", str(tmp_path / "figures"))
    (target,) = student.build(student_dir, [path])
    nb = nbformat.read(target, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(config.REPO / "notebooks")}}).execute()
    checked, unexpected = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        keys = student.CHECK_CALL.findall(cell.source)
        if keys:
            names = {e.ename for e in errors}
            assert names and names <= EXPECTED, (
                f"{path.name} cell {i} (check of {keys}) should fail on the stub with one of {EXPECTED}, "
                f"got {names or 'no error'}: {[e.evalue for e in errors]}")
            checked += keys
        elif errors:
            unexpected.append((i, errors[0].ename, errors[0].evalue, cell.source[:120]))
    assert not unexpected, f"{path.name}: cells other than checks failed in the student's copy: {unexpected}"
    assert sorted(set(checked)) == sorted(student.exercise_map(nb)), f"{path.name}: checks ran {checked}"
