"""Assessment of blinding: the participant's or assessor's guess of the allocated arm.

Why here: sham-controlled dry-needling and physiotherapy trials must report whether blinding
held, for participants and for outcome assessors. Bang's blinding index needs the answers in a
fixed 2 × 5 layout, so the question is captured in exactly the shape that index uses.

Format (Bang H, Ni L, Davis CE. Assessment of blinding in clinical trials. Control Clin Trials
2004;25:143-156): each respondent guesses the arm (active, sham, don't know) and, for a guess of
active or sham, how strongly they believe it (somewhat, strongly). Together these give the five
response categories of Bang's index: strongly active, somewhat active, somewhat sham, strongly
sham, don't know. Bang uses "treatment"/"placebo"; here the arms are "active"/"sham".

Scores: ``guess`` (active / sham / dont_know) and ``bang_category`` (one of the five). Missing
answers: ``guess`` needs the guess; ``bang_category`` also needs the certainty unless the guess
is don't know, so its rule is not a count of missing items. A certainty given with "don't know" is
ignored (the five-category layout has no certainty for don't know). The index itself is computed
per arm by the analysis layer from ``bang_category`` counts, not here.

Raters: the same instrument is recorded by participants and by assessors; the record's rater says
whose guess it is, and the two are analysed separately.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from physiotrial.core.instruments.scoring import Answers, ScoreColumn, missing_reasons
from physiotrial.core.instruments.spec import (
    Choice,
    Direction,
    Instrument,
    Item,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

ACTIVE, SHAM, DONT_KNOW = 1, 2, 3
SOMEWHAT, STRONGLY = 1, 2
GUESS_CHOICES = (
    Choice(code=ACTIVE, label="active"),
    Choice(code=SHAM, label="sham"),
    Choice(code=DONT_KNOW, label="don't know"),
)
CERTAINTY_CHOICES = (
    Choice(code=SOMEWHAT, label="somewhat"),
    Choice(code=STRONGLY, label="strongly"),
)
GUESS_CATEGORIES = ("active", "sham", "dont_know")
BANG_CATEGORIES = (
    "strongly_active",
    "somewhat_active",
    "somewhat_sham",
    "strongly_sham",
    "dont_know",
)
"""The five response categories of Bang's blinding index, in Bang's order."""

_BANG_CELLS = (
    (ACTIVE, STRONGLY, "strongly_active"),
    (ACTIVE, SOMEWHAT, "somewhat_active"),
    (SHAM, SOMEWHAT, "somewhat_sham"),
    (SHAM, STRONGLY, "strongly_sham"),
)
BANG_2004 = (
    "Bang H, Ni L, Davis CE. Assessment of blinding in clinical trials. Control Clin Trials "
    "2004;25:143-156 (five response categories of the blinding index)"
)
GUESS_RULE = "the guess is required"
CERTAINTY_REASON = "certainty missing; it is required when the guess is active or sham (Bang 2004)"


def _score(answers: Answers) -> Mapping[str, ScoreColumn]:
    guess = answers.column("guess")
    certainty = answers.column("certainty")
    no_guess = np.isnan(guess)
    guess_reasons = missing_reasons(no_guess.astype(int), 1, 0, GUESS_RULE)

    guess_names = np.full(len(guess), None, dtype=object)
    for code, name in zip((ACTIVE, SHAM, DONT_KNOW), GUESS_CATEGORIES, strict=True):
        guess_names[guess == code] = name

    bang = np.full(len(guess), None, dtype=object)
    bang[guess == DONT_KNOW] = "dont_know"
    for guess_code, certainty_code, name in _BANG_CELLS:
        bang[(guess == guess_code) & (certainty == certainty_code)] = name
    bang_reasons = guess_reasons.copy()
    for row in np.flatnonzero(~no_guess & (guess != DONT_KNOW) & np.isnan(certainty)):
        bang_reasons[row] = CERTAINTY_REASON
    return {
        "guess": ScoreColumn.of(guess_names, guess_reasons),
        "bang_category": ScoreColumn.of(bang, bang_reasons),
    }


BLINDING_GUESS = Instrument(
    name="blinding_guess",
    title="Blinding assessment: guess of allocated arm (Bang format)",
    version="Bang 2004, 5 categories",
    domain="blinding of participants and outcome assessors",
    items=(
        Item(
            id="guess",
            label="which arm the respondent believes was allocated",
            response=ResponseType.CHOICE,
            choices=GUESS_CHOICES,
        ),
        Item(
            id="certainty",
            label="how strongly the respondent believes the guess (blank for don't know)",
            response=ResponseType.CHOICE,
            choices=CERTAINTY_CHOICES,
            required=False,
        ),
    ),
    scores=(
        ScoreSpec(
            key="guess",
            label="guessed arm",
            kind=ScoreKind.CATEGORY,
            categories=GUESS_CATEGORIES,
            direction=Direction.NONE,
            items=("guess",),
            max_missing=0,
        ),
        ScoreSpec(
            key="bang_category",
            label="Bang blinding-index response category",
            kind=ScoreKind.CATEGORY,
            categories=BANG_CATEGORIES,
            direction=Direction.NONE,
            items=("guess", "certainty"),
            max_missing=None,
            description="needs the guess, and the certainty unless the guess is don't know",
        ),
    ),
    raters=(Rater.PARTICIPANT, Rater.ASSESSOR),
    recall="at the time of asking (the protocol fixes the visit)",
    missing_rule="The guess is required. The certainty is required when the guess is active or "
    "sham and ignored when it is don't know; without it bang_category is unscored.",
    citation=(BANG_2004,),
    licence="generic question, no item text to license",
    scorer=_score,
)

INSTRUMENTS = (BLINDING_GUESS,)
