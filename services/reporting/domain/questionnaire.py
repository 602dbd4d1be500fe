"""How the end-of-year questionnaire's answers are aggregated (seed 004: each referent, school and
company, answers it on its own).

Answers are free text in the contracts. Aggregated per question and side, a figure can only
count what repeats, so an answer is read as one of:

- **blank** (nothing but spaces): not an answer, not counted;
- a **short answer** (at most :data:`SHORT` characters once spaces are collapsed): a choice such
  as « Oui », « Très satisfait », « 4 ». Compared without case and extra spaces, and counted per
  distinct value; the figure shows the :data:`TOP` most frequent values and folds the rest into
  "other short answers";
- a **free text** (longer): counted, never shown (it may name people; it is read in the bilan).

A question is compared with its spaces collapsed (not its case: the wording is the form's).
"""

from __future__ import annotations

SHORT = 80
TOP = 10


def question_of(text: str) -> str:
    return " ".join(str(text).split())


def answer_of(text: str | None) -> tuple[bool, str | None]:
    """(answered, the short answer as counted or None for a free text)."""
    collapsed = " ".join(str(text or "").split())
    if not collapsed:
        return False, None
    if len(collapsed) > SHORT:
        return True, None
    return True, collapsed.casefold()
