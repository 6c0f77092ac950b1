"""Patient selection: the clinical YAML of ``cordotomy run --clinical`` checked against the reference table.

The table (Shepherd et al. AJNR 2017, ``seeds/selection.yaml``) has seven rows, each with an ideal patient,
a contraindication and an additional risk. A clinical file gives what is known about the patient; every
row is then judged ``ideal``, ``relative_contraindication``, ``contraindication`` or ``not_given`` and
carries the row's risk text, so the report can show a checklist rather than a verdict. Thresholds (pO2,
SpO2, FEV1, pulmonary function, life expectancy, supine time, bilateral staging) come from seeds/.

Clinical file (every key optional; unknown keys and out-of-range values are usage errors, exit 2)::

    pain_laterality: unilateral            # unilateral | bilateral
    pain_site: leg                         # leg | arm | trunk | other
    pain_type: nociceptive                 # nociceptive | neuropathic | mixed
    po2_percent: 85                        # pO2 on room air, as in the reference table (0-100)
    spo2_percent: 95                       # resting SpO2 on room air (0-100)
    fev1_ml_per_kg: 20
    pft_percent_predicted: 70
    life_expectancy_months: 6
    intracranial_mass: false               # intracranial metastasis or mass effect
    psychiatric_comorbidity: false
    opiate_dependence: false
    autonomic_dysfunction: false
    orthopnea: false
    supine_tolerance_minutes: 60
    prior_contralateral_cordotomy: false
    prior_cordotomy_days_ago: 30           # only with prior_contralateral_cordotomy
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import InputDataError, UsageError
from pipeline.seeds import Seeds

SCHEMA = "cordotomy.selection/1"
STATUSES = ("ideal", "relative_contraindication", "contraindication", "not_given")

_CHOICES: dict[str, tuple[str, ...]] = {
    "pain_laterality": ("unilateral", "bilateral"),
    "pain_site": ("leg", "arm", "trunk", "other"),
    "pain_type": ("nociceptive", "neuropathic", "mixed"),
}
_RANGES: dict[str, tuple[float, float]] = {
    "po2_percent": (0.0, 100.0),
    "spo2_percent": (0.0, 100.0),
    "fev1_ml_per_kg": (0.0, 100.0),
    "pft_percent_predicted": (0.0, 200.0),
    "life_expectancy_months": (0.0, 600.0),
    "supine_tolerance_minutes": (0.0, 1440.0),
    "prior_cordotomy_days_ago": (0.0, 36500.0),
}
_FLAGS = (
    "intracranial_mass",
    "psychiatric_comorbidity",
    "opiate_dependence",
    "autonomic_dysfunction",
    "orthopnea",
    "prior_contralateral_cordotomy",
)
_SEVERITY = {"not_given": 0, "ideal": 1, "relative_contraindication": 2, "contraindication": 3}
KNOWN_KEYS = frozenset({*_CHOICES, *_RANGES, *_FLAGS})


def read_clinical(path: str | Path) -> dict[str, Any]:
    """Read and validate a clinical YAML file; returns the checked mapping.

    Raises
    ------
    InputDataError
        The file cannot be read or is not YAML.
    UsageError
        Unknown keys, wrong types or values out of range (the message names the key and the file).
    """
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read the clinical file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputDataError(f"{path}: not valid YAML ({exc})") from None
    return validate_clinical({} if loaded is None else loaded, name=str(path))


def validate_clinical(clinical: Any, *, name: str = "clinical data") -> dict[str, Any]:
    """Check keys, types and ranges of a clinical mapping (see the module docstring)."""
    if not isinstance(clinical, Mapping):
        raise UsageError(f"{name}: expected a mapping of clinical items, got {type(clinical).__name__}")
    unknown = sorted(set(clinical) - KNOWN_KEYS)
    if unknown:
        raise UsageError(f"{name}: unknown clinical item(s) {unknown}; known: {sorted(KNOWN_KEYS)}")
    checked: dict[str, Any] = {}
    for key, value in clinical.items():
        if value is None:
            continue
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                raise UsageError(f"{name}: {key} must be one of {list(_CHOICES[key])}, got {value!r}")
        elif key in _RANGES:
            low, high = _RANGES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{name}: {key} must be a number, got {value!r}")
            if not low <= float(value) <= high:
                raise UsageError(f"{name}: {key} = {value} is outside the plausible range {low:g}-{high:g}")
            value = float(value)
        elif not isinstance(value, bool):
            raise UsageError(f"{name}: {key} must be true or false, got {value!r}")
        checked[key] = value
    if "prior_cordotomy_days_ago" in checked and not checked.get("prior_contralateral_cordotomy"):
        raise UsageError(
            f"{name}: prior_cordotomy_days_ago given without prior_contralateral_cordotomy: true"
        )
    return checked


@dataclass(frozen=True)
class SelectionItem:
    """One row of the reference table judged for this patient."""

    item: str
    ideal: str
    contraindication: str
    risk: str
    status: str
    finding: str
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "ideal": self.ideal,
            "contraindication": self.contraindication,
            "risk": self.risk,
            "status": self.status,
            "finding": self.finding,
            "sources": list(self.sources),
        }


_Judgement = tuple[str, str, tuple[str, ...]]


def _pain(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
    laterality, site = c.get("pain_laterality"), c.get("pain_site")
    if laterality is None and site is None:
        return "not_given", "pain laterality and site not given", ()
    if laterality == "bilateral" and site == "arm":
        return "contraindication", "bilateral upper-extremity pain", ()
    if laterality == "bilateral":
        return "relative_contraindication", "bilateral pain: one cordotomy treats one side", ()
    if site in ("trunk", "other"):
        return "relative_contraindication", f"pain site {site}, not an extremity", ()
    if c.get("pain_type") in ("neuropathic", "mixed"):
        return "relative_contraindication", f"{c['pain_type']} pain (the ideal is nociceptive)", ()
    if pain_region is not None and site is not None and site != pain_region:
        return (
            "relative_contraindication",
            f"clinical pain site {site} differs from the planned region {pain_region}",
            (),
        )
    return "ideal", f"{laterality or 'laterality not given'} {site or ''} pain".strip(), ()


# Respiratory items: clinical key, seed of the limit, status when the limit is not met, and the findings
# (None: nothing to say when the value is within its limit). pO2 must exceed its limit; the others must
# not fall below theirs.
_RESPIRATORY = (
    ("spo2_percent", "selection.spo2_flag_below_percent", "contraindication",
     "SpO2 {v:g} %", "SpO2 {v:g} % < {lim:g} %"),
    ("po2_percent", "selection.pao2_ideal_min_percent", "relative_contraindication",
     "pO2 {v:g} % > {lim:g} %", "pO2 {v:g} % not above {lim:g} %"),
    ("fev1_ml_per_kg", "selection.fev1_min_ml_per_kg", "contraindication",
     None, "FEV1 {v:g} ml/kg < {lim:g} ml/kg"),
    ("pft_percent_predicted", "selection.pft_min_percent_predicted", "contraindication",
     None, "pulmonary function {v:g} % < {lim:g} % predicted"),
)  # fmt: skip


def _respiratory(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
    findings: list[str] = []
    statuses: list[str] = []
    used: list[str] = []
    for key, seed_key, failed, within_text, failed_text in _RESPIRATORY:
        if key not in c:
            continue
        limit = seeds[seed_key]
        used.append(limit.source)
        value = c[key]
        ok = value > limit.value if key == "po2_percent" else value >= limit.value
        statuses.append("ideal" if ok else failed)
        text = within_text if ok else failed_text
        if text is not None:
            findings.append(text.format(v=value, lim=limit.value))
    if not statuses:
        return "not_given", "no pO2, SpO2, FEV1 or pulmonary function given", ()
    status = max(statuses, key=lambda s: _SEVERITY[s])
    return status, "; ".join(findings) or "pulmonary function within limits", tuple(used)


def _life_expectancy(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
    if "life_expectancy_months" not in c:
        return "not_given", "life expectancy not given", ()
    months = c["life_expectancy_months"]
    ideal = seeds["selection.life_expectancy_months"]
    low, high = (float(v) for v in ideal.value)
    floor = seeds["selection.life_expectancy_min_months_rct"]
    if months < floor.value:
        return "contraindication", f"{months:g} months < {floor.value:g} month", (floor.source,)
    if months < low:
        return "relative_contraindication", f"{months:g} months < {low:g} months", (ideal.source,)
    if months > high:
        return "contraindication", f"{months:g} months > {high:g} months", (ideal.source,)
    return "ideal", f"{months:g} months (ideal {low:g}-{high:g})", (ideal.source,)


def _boolean_row(
    key: str, present: str, absent: str, status_if_present: str
) -> Callable[[Mapping[str, Any], Seeds, str | None], _Judgement]:
    def judge(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
        if key not in c:
            return "not_given", f"{key.replace('_', ' ')} not given", ()
        return (status_if_present, present, ()) if c[key] else ("ideal", absent, ())

    return judge


def _psychiatric(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
    given = [k for k in ("psychiatric_comorbidity", "opiate_dependence") if k in c]
    if not given:
        return "not_given", "psychiatric comorbidity and opiate dependence not given", ()
    present = [k.replace("_", " ") for k in given if c[k]]
    if present:
        return "contraindication", ", ".join(present), ()
    return "ideal", "no " + " or ".join(k.replace("_", " ") for k in given), ()


def _supine(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
    if "orthopnea" not in c and "supine_tolerance_minutes" not in c:
        return "not_given", "orthopnea and supine tolerance not given", ()
    minimum = seeds["selection.supine_minutes_min"]
    if c.get("orthopnea"):
        return "relative_contraindication", "orthopnea", ()
    minutes = c.get("supine_tolerance_minutes")
    if minutes is not None and minutes < minimum.value:
        return (
            "relative_contraindication",
            f"lies supine {minutes:g} min < {minimum.value:g} min",
            (minimum.source,),
        )
    return "ideal", "comfortable supine", (minimum.source,) if minutes is not None else ()


def _prior_cordotomy(c: Mapping[str, Any], seeds: Seeds, pain_region: str | None) -> _Judgement:
    if "prior_contralateral_cordotomy" not in c:
        return "not_given", "prior contralateral cordotomy not given", ()
    if not c["prior_contralateral_cordotomy"]:
        return "ideal", "no prior contralateral cordotomy", ()
    staging = seeds["selection.bilateral_staging_min_days"]
    days = c.get("prior_cordotomy_days_ago")
    if days is not None and days < staging.value:
        return (
            "contraindication",
            f"contralateral cordotomy {days:g} days ago (< {staging.value:g} days between sides)",
            (staging.source,),
        )
    return (
        "relative_contraindication",
        "bilateral cordotomy: risk of sleep apnea (Ondine's curse)",
        (staging.source,),
    )


# (item name, row of the reference table, judge)
_ROWS: tuple[tuple[str, int, Callable[[Mapping[str, Any], Seeds, str | None], _Judgement]], ...] = (
    ("pain laterality and site", 0, _pain),
    ("prior contralateral cordotomy", 0, _prior_cordotomy),
    ("respiratory reserve (pO2, SpO2)", 1, _respiratory),
    ("life expectancy", 2, _life_expectancy),
    (
        "intracranial mass",
        3,
        _boolean_row(
            "intracranial_mass", "intracranial metastasis or mass effect", "none known", "contraindication"
        ),
    ),
    ("psychiatric comorbidity", 4, _psychiatric),
    (
        "autonomic function",
        5,
        _boolean_row(
            "autonomic_dysfunction", "sympathetic dysfunction", "intact", "relative_contraindication"
        ),
    ),
    ("orthopnea / supine tolerance", 6, _supine),
)


def evaluate_selection(
    clinical: Mapping[str, Any] | None, seeds: Seeds, *, pain_region: str | None = None
) -> dict[str, Any]:
    """Judge every row of the reference table; returns the JSON-ready ``selection`` document.

    ``overall`` is the worst status found (``contraindication`` > ``relative_contraindication`` >
    ``ideal``), or ``not_assessed`` when no clinical data were given. Each item keeps the table's risk.
    """
    table = seeds["selection.table"]
    rows = table.value
    clinical = dict(clinical or {})
    items = []
    for name, row, judge in _ROWS:
        status, finding, sources = judge(clinical, seeds, pain_region)
        entry = rows[row]
        items.append(
            SelectionItem(
                item=name,
                ideal=str(entry["ideal"]),
                contraindication=str(entry["contraindication"]),
                risk=str(entry["risk"]),
                status=status,
                finding=finding,
                sources=(table.source, *sources),
            )
        )
    found = {item.status for item in items}
    overall = "not_assessed"
    for status in ("contraindication", "relative_contraindication", "ideal"):
        if status in found:
            overall = status
            break
    return {
        "schema": SCHEMA,
        "clinical": clinical,
        "overall": overall,
        "items": [item.as_dict() for item in items],
        "note": "a checklist for the clinical team, not a decision; items not given are not assessed",
    }
