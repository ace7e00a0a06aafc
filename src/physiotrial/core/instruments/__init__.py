"""Outcome instruments: capture specifications, the catalogue, and pure vectorised scoring."""

from physiotrial.core.instruments.catalogue import catalogue, get_instrument
from physiotrial.core.instruments.scoring import (
    Answers,
    ScoreColumn,
    ScoredResponse,
    ScoreTable,
    parse_answers,
    score_answers,
    score_response,
)
from physiotrial.core.instruments.spec import (
    Choice,
    Direction,
    Instrument,
    Item,
    Mcid,
    Option,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

__all__ = [
    "Answers",
    "Choice",
    "Direction",
    "Instrument",
    "Item",
    "Mcid",
    "Option",
    "Rater",
    "ResponseType",
    "ScoreColumn",
    "ScoreKind",
    "ScoreSpec",
    "ScoreTable",
    "ScoredResponse",
    "catalogue",
    "get_instrument",
    "parse_answers",
    "score_answers",
    "score_response",
]
