"""Terminal tables for protocols and instruments (rich); presentation only, no trial logic."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from physiotrial.core.care import Care
from physiotrial.core.instruments import Instrument, ScoreSpec
from physiotrial.core.protocol import Criterion, Protocol
from physiotrial.services.instruments import find_instrument


def render_protocol(protocol: Protocol, console: Console) -> None:
    """Arms, randomisation, eligibility, the visit × measure schedule, sessions and outcomes."""
    study = protocol.study
    console.print(f"[bold]{study.title}[/bold]")
    console.print(
        f"{study.id} version {study.version} · {study.condition} · registry {study.registry_id}"
    )

    if protocol.care is None:
        _render_arms(protocol, console)
    else:
        _render_care(protocol.care, console)

    eligibility = Table(title="Eligibility", title_justify="left")
    for column in ("id", "kind", "criterion", "eligible when"):
        eligibility.add_column(column)
    for criterion in protocol.eligibility:
        eligibility.add_row(
            criterion.id, criterion.kind, criterion.sentence, _eligible_when(criterion)
        )
    console.print(eligibility)
    console.print(schedule_table(protocol))

    sessions = Table(title="Treatment sessions", title_justify="left")
    for column in ("code", "by", "frequency", "arms", "recorded"):
        sessions.add_column(column)
    for plan in protocol.sessions:
        sessions.add_row(
            plan.code,
            plan.delivered_by,
            f"{plan.per_week}/week × {plan.weeks} weeks = {plan.count}",
            "; ".join(f"{arm}: {what}" for arm, what in plan.arms.items()),
            ", ".join(f.id for f in plan.records),
        )
    console.print(sessions)

    outcomes = Table(title="Outcomes", title_justify="left")
    for column in ("id", "name", "measure.score", "direction", "MCID", "visits", "primary"):
        outcomes.add_column(column, no_wrap=column in ("id", "measure.score"))
    for outcome in protocol.outcomes:
        spec = find_instrument(protocol.measure(outcome.measure).instrument).score_spec(
            outcome.score
        )
        direction = outcome.direction or spec.direction
        mcid = outcome.mcid or spec.mcid
        outcomes.add_row(
            outcome.id,
            outcome.name,
            f"{outcome.measure}.{outcome.score}",
            direction.value.replace("_", " "),
            f"{mcid.value:g} {mcid.unit}" if mcid else "",
            ", ".join(outcome.visits),
            "PRIMARY" if outcome.primary else "",
        )
    console.print(outcomes)
    analysis = protocol.analysis
    contrast = analysis.primary_contrast
    if contrast is None:
        console.print(
            "[bold]Clinic:[/bold] one care plan, no arms to compare; outcomes are followed per "
            "patient against their MCID and pooled as sessions to meaningful improvement"
        )
        return
    console.print(
        f"[bold]Analysis:[/bold] {analysis.population.upper()}, {analysis.primary_model} "
        f"({analysis.covariance}), covariates {', '.join(analysis.covariates) or 'none'}; "
        f"primary contrast {contrast.experimental} − {contrast.control} at {contrast.visit}, "
        f"alpha {analysis.alpha}, secondary outcomes {analysis.multiplicity}-adjusted; "
        f"missing data {analysis.missing_data.strategy}"
    )


def _render_arms(protocol: Protocol, console: Console) -> None:
    arms = Table(title="Arms", title_justify="left")
    for column in ("code", "name", "components", "sham", "ratio"):
        arms.add_column(column)
    for arm in protocol.arms:
        arms.add_row(
            arm.code, arm.name, ", ".join(arm.components), "yes" if arm.sham else "", str(arm.ratio)
        )
    console.print(arms)
    console.print(_randomisation_line(protocol))
    blinded = ", ".join(r.value for r in protocol.blinding.blinded_roles)
    console.print(f"[bold]Blinded:[/bold] {blinded}")


def _render_care(care: Care, console: Console) -> None:
    """A care plan: no arms, randomisation or blinding; components, home programme, rhythm."""
    components = Table(title=f"Care plan ({care.joint})", title_justify="left")
    for column in ("code", "kind", "name", "target muscles", "per week", "weeks"):
        components.add_column(column)
    for c in care.components:
        weeks = f"{c.weeks}" + (f" (up to {c.up_to_weeks})" if c.up_to_weeks else "")
        components.add_row(
            c.code, c.kind, c.name, ", ".join(c.target_muscles), str(c.per_week), weeks
        )
    console.print(components)
    if care.home is not None:
        home = Table(
            title=f"Home exercise, {care.home.per_week} days a week for {care.home.weeks} weeks",
            title_justify="left",
        )
        for column in ("exercise", "sets × repetitions", "load"):
            home.add_column(column)
        for e in care.home.exercises:
            home.add_row(e.name, f"{e.sets} × {e.repetitions}", e.load)
        console.print(home)
    months = ", ".join(f"{m} months" for m in care.follow_up_months) or "none"
    console.print(
        f"[bold]Reassessment:[/bold] every {care.reassess_every} sessions of {care.counted}; "
        f"follow-up at {months}. Response: MCID of {care.response.mcid_outcome}, OMERACT-OARSI "
        f"on {care.response.pain} and {care.response.function}"
    )


def schedule_table(protocol: Protocol) -> Table:
    """Visits as columns (day and window), measures as rows, ● where a visit captures it."""
    table = Table(title="Schedule (day, window in days)", title_justify="left")
    table.add_column("measure (rater)")
    for visit in protocol.visits:
        window = f"−{visit.window_before}/+{visit.window_after}"
        table.add_column(f"{visit.code}\nd{visit.day}\n{window}", justify="center")
    for measure in protocol.measures:
        marks = ["●" if measure.key in v.measures else "" for v in protocol.visits]
        table.add_row(f"{measure.key} ({measure.rater.value})", *marks)
    for plan in protocol.sessions:
        first, last = plan.first_day, plan.first_day + 7 * plan.weeks - 1
        marks = [
            "◦" if first - v.window_before <= v.day <= last and v.kind.value == "treatment" else ""
            for v in protocol.visits
        ]
        table.add_row(f"session: {plan.code} ({plan.count}×)", *marks)
    return table


def _randomisation_line(protocol: Protocol) -> str:
    r = protocol.randomisation
    ratio = ":".join(str(a.ratio) for a in protocol.arms)
    parts = [f"[bold]Randomisation:[/bold] {r.method.replace('_', ' ')}, ratio {ratio}"]
    if r.block_sizes:
        parts.append(f"block sizes {', '.join(map(str, r.block_sizes))} at random")
    if r.strata:
        parts.append(f"stratified by {', '.join(r.strata)}")
    if r.minimisation:
        parts.append(
            f"minimisation on {', '.join(r.minimisation.factors)} "
            f"(p = {r.minimisation.probability})"
        )
    return "; ".join(parts)


def _eligible_when(criterion: Criterion) -> str:
    if criterion.type == "numeric":
        unit = f" {criterion.unit}" if criterion.unit else ""
        if criterion.maximum is None:
            return f"≥ {criterion.minimum:g}{unit}"
        if criterion.minimum is None:
            return f"≤ {criterion.maximum:g}{unit}"
        return f"{criterion.minimum:g}–{criterion.maximum:g}{unit}"
    if criterion.type == "yes_no":
        return "yes" if criterion.eligible_if else "no"
    return ", ".join(criterion.eligible)


def render_instrument_list(instruments: list[Instrument], console: Console) -> None:
    table = Table(title="Instruments", title_justify="left")
    for column in ("name", "title", "version", "items", "scores", "rated by"):
        table.add_column(column)
    for instrument in instruments:
        table.add_row(
            instrument.name,
            instrument.title,
            instrument.version,
            str(len(instrument.items)),
            ", ".join(instrument.score_keys),
            ", ".join(r.value for r in instrument.raters),
        )
    console.print(table)


def render_instrument(
    instrument: Instrument, console: Console, wording: dict[str, str] | None = None
) -> None:
    """Items in order, scores with range, direction, MCID and missing rule, then sources."""
    console.print(f"[bold]{instrument.title}[/bold] ({instrument.name}, {instrument.version})")
    console.print(f"Measures: {instrument.domain}. Rated by: {_raters(instrument)}.")
    if instrument.recall:
        console.print(f"Recall: {instrument.recall}")
    items = Table(title="Items", title_justify="left")
    for column in ("#", "id", "wording" if wording else "construct", "response", "allowed"):
        items.add_column(column)
    for number, item in enumerate(instrument.items, start=1):
        notes = [n for n, on in (("reversed", item.reversed), ("context", not item.scored)) if on]
        text = wording[item.id] if wording else item.label
        response = item.response.value + (f" ({', '.join(notes)})" if notes else "")
        items.add_row(str(number), item.id, text, response, item.allowed())
    console.print(items)
    scores = Table(title="Scores", title_justify="left")
    for column in ("key", "meaning", "range", "direction", "MCID", "missing items allowed"):
        scores.add_column(column)
    for spec in instrument.scores:
        scores.add_row(
            spec.key,
            spec.label,
            _range(spec),
            spec.direction.value.replace("_", " "),
            f"{spec.mcid.value:g} {spec.mcid.unit}" if spec.mcid else "",
            "" if spec.max_missing is None else f"{spec.max_missing} of {len(spec.items)}",
        )
    console.print(scores)
    for option in instrument.options:
        choices = f" (one of {', '.join(map(str, option.choices))})" if option.choices else ""
        console.print(f"Option {option.name} = {option.default!r}{choices}: {option.description}")
    console.print(f"[bold]Missing items:[/bold] {instrument.missing_rule}")
    console.print(f"[bold]Licence:[/bold] {instrument.licence}")
    console.print("[bold]Sources:[/bold]")
    for source in instrument.citation:
        console.print(f"  - {source}")
    for spec in instrument.scores:
        if spec.mcid:
            console.print(f"  - MCID {spec.key}: {spec.mcid.source} {spec.mcid.note}".rstrip())


def _raters(instrument: Instrument) -> str:
    return ", ".join(r.value for r in instrument.raters)


def _range(spec: ScoreSpec) -> str:
    if spec.categories:
        return " / ".join(spec.categories)
    if spec.minimum is None and spec.maximum is None:
        return spec.kind.value
    low = "" if spec.minimum is None else f"{spec.minimum:g}"
    high = "" if spec.maximum is None else f"{spec.maximum:g}"
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{low}–{high}{unit}"
