"""Graded exercises: ``kdcourse.exercises.check("02.3", answer, **context)``.

Every notebook ends with 3-6 exercises, graded easy -> hard.  Each exercise is
three cells: a markdown statement headed ``### Exercise NN.k (level): title``,
a code cell tagged ``solution`` holding the worked solution (it assigns the
answer, or defines the function the exercise asks for), and an untagged check
cell that calls :func:`check`.  ``make student`` (``python -m kdcourse student``)
writes the students' copies, with each solution cell replaced by a stub that
leaves the answer ``None`` (or a function that raises ``NotImplementedError``),
and every check kept: a stub fails its check, a correct answer passes it.

The checks themselves live one module per notebook (``ex01.py`` ... ``ex09.py``),
each registering its functions with :func:`exercise`.  A check receives the
student's answer and, as keywords, whatever measurements of the notebook it
needs (``context``), so it grades against the numbers of the run the student
made, in any profile.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

__all__ = ["Exercise", "NotAnswered", "Wrong", "call_student", "check", "close", "exercise", "expect", "registry", "LEVELS"]

LEVELS = ("easy", "medium", "hard")
NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07", "08", "09")


class NotAnswered(AssertionError):
    """The answer is still the stub's ``None`` (or ``...``)."""


class Wrong(AssertionError):
    """The answer was checked and is not right; the message says why and gives a hint."""


@dataclass(frozen=True)
class Exercise:
    key: str          # "02.3": notebook 02, exercise 3
    level: str        # easy, medium or hard
    title: str
    grade: Callable   # grade(answer, **context): raises Wrong, returns a one-line verdict (or None)


_REGISTRY: dict[str, Exercise] = {}


def exercise(key: str, level: str, title: str):
    """Decorator: register ``grade(answer, **context)`` as the check of exercise ``key`` ("NN.k")."""
    nb, _, k = key.partition(".")
    if nb not in NOTEBOOKS or not k.isdigit():
        raise ValueError(f"exercise key must look like '02.3' (notebook 01-09, a number), got {key!r}")
    if level not in LEVELS:
        raise ValueError(f"exercise {key}: level must be one of {LEVELS}, got {level!r}")

    def register(grade: Callable) -> Callable:
        if key in _REGISTRY and _REGISTRY[key].grade.__qualname__ != grade.__qualname__:
            raise ValueError(f"exercise {key} is registered twice")
        _REGISTRY[key] = Exercise(key, level, title, grade)
        return grade
    return register


def _load(nb: str) -> None:
    try:
        importlib.import_module(f"{__name__}.ex{nb}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.ex{nb}":
            raise


def registry(notebook: str | None = None) -> dict[str, Exercise]:
    """Every registered exercise (of one notebook, "02", if given), by key in order."""
    for nb in NOTEBOOKS if notebook is None else (notebook[:2],):
        _load(nb)
    keys = sorted(_REGISTRY, key=lambda k: (k[:2], int(k[3:])))
    return {k: _REGISTRY[k] for k in keys if notebook is None or k[:2] == notebook[:2]}


def _unanswered(answer) -> bool:
    if answer is None or answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(_unanswered(v) for v in answer.values())
    if isinstance(answer, (list, tuple)):
        return any(v is None or v is Ellipsis for v in answer)
    return False


def check(key: str, answer, **context) -> str:
    """Grade ``answer`` to exercise ``key``: print and return the verdict, or raise.

    Raises :class:`NotAnswered` while the answer is the stub's ``None``, and
    :class:`Wrong` (with a hint) when it is checked and wrong.  A function the
    student has not written yet raises its own ``NotImplementedError``.
    """
    table = registry(key[:2])
    if key not in table:
        raise KeyError(f"no exercise {key!r}; notebook {key[:2]} has {sorted(table) or 'none'}")
    ex = table[key]
    if _unanswered(answer):
        raise NotAnswered(f"exercise {key} ({ex.title}) is not answered yet: replace the None in the cell above "
                          "with your answer, run it, then run this check again")
    verdict = ex.grade(answer, **context)
    line = f"exercise {key} ({ex.level}): correct" + (f" - {verdict}" if verdict else "")
    print(line)
    return line


def expect(condition: bool, message: str) -> None:
    """Inside a grade function: raise :class:`Wrong` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Wrong(message)


def call_student(fn, *args):
    """Call the student's function: a crash is a :class:`Wrong` answer (with the error), a stub's
    ``NotImplementedError`` passes through unchanged."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as exc:   # noqa: BLE001 - a crash of the student's function is a wrong answer
        raise Wrong(f"your function raised {type(exc).__name__}: {exc}") from None


def close(value, target, *, rel: float = 0.0, abs_: float = 0.0, what: str = "your answer") -> None:
    """Raise :class:`Wrong` unless ``value`` is within ``abs_`` + ``rel``·|target| of ``target``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be a number, got {value!r}") from None
    tol = abs_ + rel * abs(float(target))
    if not abs(v - float(target)) <= tol:
        raise Wrong(f"{what} = {v:.6g} is not within {tol:.3g} of the expected value; re-read the table or plot "
                    "the exercise points to")
