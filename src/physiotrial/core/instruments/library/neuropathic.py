"""Neuropathic-pain screening: DN4, S-LANSS and painDETECT.

Why: knee OA pain has a neuropathic-like component in a minority of people, and trials screen for
it at baseline to describe or stratify the sample. All three give a total and a screening result;
none is a diagnosis. No item wording is shipped: items carry a short topic label.

DN4 (instruments.md §4a): 10 yes/no items, yes = 1 — 7 interview items (burning, painful cold,
electric shocks, tingling, pins and needles, numbness, itching) and 3 examination items (touch
hypoesthesia, pinprick hypoesthesia, pain caused or increased by brushing), so an assessor records
it. Total 0–10; ≥4 is screen positive (Perez 2007, Spanish validation, https://ichgcp.net/ja/
clinical-trials-registry/publications/32850-validity-and-reliability-of-the-spanish-version-of-
the-dn4-douleur-neuropathique-4-questions; item list also in PMC7136290 Table 3). A Dutch sample
found 5/10 optimal (van Seventer 2013, https://repub.eur.nl/pub/63849), so the cut-off is
population-dependent. Missing items: no source found; every item is required (UNVERIFIED).

S-LANSS (instruments.md §4b): 7 self-report yes/no items; yes scores 5, 5, 3, 2, 1, 5, 3 (no = 0),
total 0–24. These are the LANSS weights (dysaesthesia 5, skin colour 5, touch sensitivity 3,
sudden bursts 2, temperature/burning 1, allodynia 5, pinprick 3: PMC7136290 Table 3,
https://pmc.ncbi.nlm.nih.gov/articles/PMC7136290/table/T3, and the LANSS form,
https://orthofixar.com/special-test/lanss-pain-scale/); a copy of the S-LANSS form
(https://www.scribd.com/document/562078159/s-lanss) shows item 1 yes = 5 and "12 or more suggests
pain of predominantly neuropathic origin", but its later items were not seen and the Bennett 2005
full text was not read, so weights 2–7 for the self-report version are UNVERIFIED. Bennett's
abstract says sensitivity depends on the cut-off (https://citationsy.com/archives/q?doi=10.1016/
J.JPAIN.2004.11.007), hence the ``cutoff`` option, 12 (default) or 10 (the alternative value is
UNVERIFIED). Missing items: none allowed (UNVERIFIED).

painDETECT (instruments.md §4c): 7 symptom items coded 0–5 (never … very strongly; NINDS CDE,
https://commondataelements.ninds.nih.gov/ReportViewer.aspx?/nindscdereports/rptNOC&rs:Command=
Render&rc:Parameters=false&crfID=F1775), a pain-course pattern chosen from 4 diagrams, and
radiating pain (yes = +2, NINDS CDE). The pattern is a CHOICE coded 1–4 in form order whose score
values are 0 (persistent, slight fluctuations), −1 (persistent with attacks), +1 (attacks without
pain between) and +1 (attacks with pain between), as tabulated in PMC7136290 Table 3 (secondary;
Freynhagen 2006 itself not read). Total −1…38; ≤12 unlikely, 13–18 uncertain, ≥19 likely
(https://src-signal.com/index.php/question-6-asks-about-the-pain-course-pattern-scored-from-
%e2%88%921-to/; the NINDS page misprints ≥19 as "≤19"). The pain-intensity and body-chart items do
not count and are not captured here. Missing items: none allowed (UNVERIFIED).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from physiotrial.core.instruments.scoring import (
    Answers,
    ScoreColumn,
    missing_reasons,
    sum_score,
    threshold_flag,
)
from physiotrial.core.instruments.spec import (
    YES_NO_CHOICES,
    Choice,
    Direction,
    Instrument,
    Item,
    Option,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

TABLE_PMC7136290 = (
    "Summary of neuropathic pain questionnaires (DN4 items, LANSS weights, painDETECT pattern "
    "values), https://pmc.ncbi.nlm.nih.gov/articles/PMC7136290/table/T3 (secondary)"
)
PEREZ_2007 = (
    "Perez C et al. Health Qual Life Outcomes 2007 (Spanish DN4: cut-off ≥4), https://ichgcp.net/"
    "ja/clinical-trials-registry/publications/32850-validity-and-reliability-of-the-spanish-"
    "version-of-the-dn4-douleur-neuropathique-4-questions"
)
VAN_SEVENTER_2013 = (
    "van Seventer R et al. Pain Pract 2013;13:390 (Dutch DN4: 5/10 optimal in that sample), "
    "https://repub.eur.nl/pub/63849"
)
BENNETT_2005 = (
    "Bennett MI et al. J Pain 2005;6:149 (S-LANSS), abstract only: https://citationsy.com/archives/"
    "q?doi=10.1016/J.JPAIN.2004.11.007"
)
SLANSS_FORM = "S-LANSS form copy, https://www.scribd.com/document/562078159/s-lanss"
LANSS_FORM = "LANSS form with weights, https://orthofixar.com/special-test/lanss-pain-scale/"
NINDS_PAINDETECT = (
    "NINDS CDE painDETECT notice, https://commondataelements.ninds.nih.gov/ReportViewer.aspx?/"
    "nindscdereports/rptNOC&rs:Command=Render&rc:Parameters=false&crfID=F1775"
)
PAINDETECT_BANDS = (
    "painDETECT bands ≤12 / 13–18 / ≥19 (Freynhagen 2006 as summarised at https://src-signal.com/"
    "index.php/question-6-asks-about-the-pain-course-pattern-scored-from-%e2%88%921-to/)"
)
FREYNHAGEN_2006 = (
    "Freynhagen R et al. Curr Med Res Opin 2006;22:1911-1920 (not read), https://www.researchgate."
    "net/publication/6771902"
)


def _yes_no(items: tuple[tuple[str, str], ...]) -> tuple[Item, ...]:
    return tuple(
        Item(id=i, label=label, response=ResponseType.YES_NO, choices=YES_NO_CHOICES)
        for i, label in items
    )


def _total_spec(
    items: tuple[Item, ...], maximum: float, description: str, minimum: float = 0
) -> ScoreSpec:
    return ScoreSpec(
        key="total",
        label="total score (higher = more neuropathic features)",
        minimum=minimum,
        maximum=maximum,
        unit="points",
        direction=Direction.HIGHER_WORSE,
        items=tuple(i.id for i in items),
        max_missing=0,
        item_effect=1,
        description=description,
    )


def _flag_spec(items: tuple[Item, ...], description: str) -> ScoreSpec:
    return ScoreSpec(
        key="positive",
        label="screen positive for neuropathic pain",
        kind=ScoreKind.FLAG,
        items=tuple(i.id for i in items),
        max_missing=0,
        item_effect=1,
        description=description,
    )


# --- DN4 ------------------------------------------------------------------------------------

DN4_ITEMS = _yes_no(
    (
        ("burning", "interview: burning"),
        ("painful_cold", "interview: painful cold"),
        ("electric_shocks", "interview: electric shocks"),
        ("tingling", "interview: tingling"),
        ("pins_needles", "interview: pins and needles"),
        ("numbness", "interview: numbness"),
        ("itching", "interview: itching"),
        ("touch_hypoesthesia", "examination: hypoesthesia to touch"),
        ("prick_hypoesthesia", "examination: hypoesthesia to pinprick"),
        ("brushing", "examination: pain caused or increased by brushing"),
    )
)
DN4_CUTOFF = 4
_NO_MISSING = "every item required; no published rule found (UNVERIFIED)"


def score_dn4(answers: Answers) -> Mapping[str, ScoreColumn]:
    total = sum_score(answers, [i.id for i in DN4_ITEMS], rule=_NO_MISSING)
    return {"total": total, "positive": threshold_flag(total, DN4_CUTOFF)}


DN4 = Instrument(
    name="dn4",
    title="DN4 (Douleur Neuropathique en 4 questions)",
    version="10-item (7 interview + 3 examination)",
    domain="neuropathic pain screening",
    items=DN4_ITEMS,
    scores=(
        _total_spec(DN4_ITEMS, 10, "number of yes answers (yes = 1, no = 0)"),
        _flag_spec(DN4_ITEMS, "total ≥ 4 (Perez 2007; population-dependent, see citation)"),
    ),
    raters=(Rater.ASSESSOR,),
    recall=None,
    missing_rule="No missing items allowed: no published rule was found (UNVERIFIED).",
    citation=(
        PEREZ_2007,
        TABLE_PMC7136290,
        VAN_SEVENTER_2013,
        "Bouhassira D et al. Pain 2005;114:29-36 (original DN4) not read; missing-item rule "
        "UNVERIFIED",
        "instruments.md §4a",
    ),
    licence="copyright holder UNVERIFIED; item text is not shipped",
    scorer=score_dn4,
)

# --- S-LANSS --------------------------------------------------------------------------------

SLANSS_ITEMS = _yes_no(
    (
        ("pins_needles", "pins and needles, tingling or prickling"),
        ("skin_colour", "painful area changes colour"),
        ("touch_sensitivity", "abnormal sensitivity to touch"),
        ("sudden_bursts", "sudden bursts of pain, electric shocks"),
        ("skin_heat", "skin feels hot or burning"),
        ("rub_test", "self-test: rubbing the painful area"),
        ("press_test", "self-test: pressing the painful area"),
    )
)
SLANSS_WEIGHTS = (5.0, 5.0, 3.0, 2.0, 1.0, 5.0, 3.0)


def score_slanss(answers: Answers) -> Mapping[str, ScoreColumn]:
    total = sum_score(
        answers, [i.id for i in SLANSS_ITEMS], weights=SLANSS_WEIGHTS, rule=_NO_MISSING
    )
    cutoff = float(answers.option("cutoff"))
    return {"total": total, "positive": threshold_flag(total, cutoff)}


SLANSS = Instrument(
    name="slanss",
    title="S-LANSS (self-report Leeds Assessment of Neuropathic Symptoms and Signs)",
    version="Bennett 2005, 7 items",
    domain="neuropathic pain screening",
    items=SLANSS_ITEMS,
    scores=(
        _total_spec(
            SLANSS_ITEMS,
            24,
            "sum of yes-weights 5, 5, 3, 2, 1, 5, 3 (LANSS weights; S-LANSS "
            "weights 2–7 UNVERIFIED against Bennett 2005)",
        ),
        _flag_spec(SLANSS_ITEMS, "total ≥ the cutoff option (12 by default, or 10)"),
    ),
    raters=(Rater.PARTICIPANT,),
    recall="last week (LANSS form wording; S-LANSS wording not read, UNVERIFIED)",
    missing_rule="No missing items allowed: no published rule was found (UNVERIFIED).",
    citation=(
        BENNETT_2005,
        SLANSS_FORM,
        TABLE_PMC7136290,
        LANSS_FORM,
        "S-LANSS weights for items 2–7 and the alternative cut-off 10: UNVERIFIED (Bennett 2005 "
        "full text not read)",
        "instruments.md §4b",
    ),
    licence="copyright holder UNVERIFIED; item text is not shipped",
    options=(
        Option(
            name="cutoff",
            description="Total at or above which the screen is positive: 12 (Bennett 2005 form) "
            "or 10 (used by some studies; UNVERIFIED).",
            default=12,
            choices=(12, 10),
        ),
    ),
    scorer=score_slanss,
)

# --- painDETECT -----------------------------------------------------------------------------

PAINDETECT_LIKERT = (
    Choice(code=0, label="never"),
    Choice(code=1, label="hardly noticed"),
    Choice(code=2, label="slightly"),
    Choice(code=3, label="moderately"),
    Choice(code=4, label="strongly"),
    Choice(code=5, label="very strongly"),
)
PAINDETECT_SYMPTOMS = (
    ("burning", "burning sensation"),
    ("tingling", "tingling or prickling"),
    ("light_touch", "light touching is painful"),
    ("pain_attacks", "sudden pain attacks, electric shocks"),
    ("cold_heat", "cold or heat is painful"),
    ("numbness", "numbness"),
    ("pressure", "slight pressure is painful"),
)
PATTERNS = (
    (1, "persistent with slight fluctuations", 0.0),
    (2, "persistent with attacks", -1.0),
    (3, "attacks without pain between", 1.0),
    (4, "attacks with pain between", 1.0),
)
"""Pain-course pattern: (code, label, score value), codes in the form's order."""
RADIATING_POINTS = 2.0
CATEGORIES = ("unlikely", "uncertain", "likely")

PAINDETECT_ITEMS = (
    *(
        Item(
            id=i, label=f"symptom: {label}", response=ResponseType.LIKERT, choices=PAINDETECT_LIKERT
        )
        for i, label in PAINDETECT_SYMPTOMS
    ),
    Item(
        id="pattern",
        label="pain-course pattern (one of 4 diagrams)",
        response=ResponseType.CHOICE,
        choices=tuple(Choice(code=code, label=label) for code, label, _value in PATTERNS),
    ),
    Item(
        id="radiating",
        label="pain radiates to other regions",
        response=ResponseType.YES_NO,
        choices=YES_NO_CHOICES,
    ),
)
_PAINDETECT_IDS = tuple(i.id for i in PAINDETECT_ITEMS)


def paindetect_category(total: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """ "unlikely" (≤12), "uncertain" (13–18) or "likely" (≥19); None where the total is null."""
    values = np.full(len(total), None, dtype=object)
    with np.errstate(invalid="ignore"):
        values[total <= 12] = CATEGORIES[0]
        values[(total > 12) & (total < 19)] = CATEGORIES[1]
        values[total >= 19] = CATEGORIES[2]
    return values


def score_paindetect(answers: Answers) -> Mapping[str, ScoreColumn]:
    symptoms = answers.columns([i for i, _label in PAINDETECT_SYMPTOMS]).sum(axis=1)
    codes = answers.column("pattern")
    pattern = np.full(len(answers), np.nan)
    for code, _label, value in PATTERNS:
        pattern[codes == code] = value
    total = symptoms + pattern + RADIATING_POINTS * answers.column("radiating")
    n_missing = np.isnan(answers.columns(_PAINDETECT_IDS)).sum(axis=1)
    reasons = missing_reasons(n_missing, len(_PAINDETECT_IDS), 0, _NO_MISSING)
    total = np.where(reasons == None, total, np.nan)  # noqa: E711  (elementwise test)
    return {
        "total": ScoreColumn.of(total.astype(float), reasons),
        "category": ScoreColumn.of(paindetect_category(total), reasons),
    }


PAINDETECT = Instrument(
    name="paindetect",
    title="painDETECT questionnaire (PD-Q)",
    version="9 scored items (7 symptoms + pattern + radiating)",
    domain="neuropathic pain screening",
    items=PAINDETECT_ITEMS,
    scores=(
        _total_spec(
            PAINDETECT_ITEMS,
            38,
            "symptom items 0–5 summed, + pattern value (0, −1, +1, +1), + 2 if radiating; "
            "monotone in the ordered items, not in the pattern code (an unordered choice)",
            minimum=-1,
        ),
        ScoreSpec(
            key="category",
            label="neuropathic component",
            kind=ScoreKind.CATEGORY,
            categories=CATEGORIES,
            items=_PAINDETECT_IDS,
            max_missing=0,
            description="unlikely ≤12, uncertain 13–18, likely ≥19 (Freynhagen 2006 bands)",
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    recall=None,
    missing_rule="No missing items allowed: no published rule was found (UNVERIFIED).",
    citation=(
        NINDS_PAINDETECT,
        TABLE_PMC7136290,
        PAINDETECT_BANDS,
        FREYNHAGEN_2006,
        "pattern values 0/−1/+1/+1 from the secondary table only; Freynhagen 2006 not read",
        "instruments.md §4c",
    ),
    licence="© Pfizer / Freynhagen et al. (UNVERIFIED); item text and diagrams are not shipped",
    scorer=score_paindetect,
)

INSTRUMENTS = (DN4, SLANSS, PAINDETECT)
