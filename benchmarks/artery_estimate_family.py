"""Benchmark: vertebral arteries estimated from the transverse foramina (no vascular series), family draws.

Run from the project root::

    python benchmarks/artery_estimate_family.py --draws 100 [--first 0] [--json OUT.json]

Each draw (:func:`pipeline.phantom.family.make_family_case`, no vascular series) is analysed and planned
(right pain, so both sides' window overlap is assessed). Per side, against the generator's artery:

* the distance from each point of the true centreline within 12 mm of the planning level to the estimated
  course: its 90th percentile (what ``safety.vertebral_artery_estimate_uncertainty_mm`` of seeds/ must
  cover) and its maximum; a side whose C1 foramen was not found is "not located";
* whether the plan says the artery may lie over the lateral C1-C2 window where the truth says it does. A
  miss there is a safety failure; the script prints the count, which must be 0.

Loops and persistent first intersegmental arteries cannot be seen from bone; they are listed apart. The
reference is the generator's truth: no other tool estimates these arteries from bone on a CT myelogram.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _family_draws import draws_parser

NEAR_WINDOW_MM = 12.0


def score_draw(seed: int) -> list[dict[str, object]]:
    """One row per side: course kind, distances of the estimate, window overlap in the plan and the truth."""
    from pipeline.errors import CordotomyError
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.phantom.family import make_family_case
    from pipeline.seeds import load_seeds
    from pipeline.trajectory import plan_trajectory

    case = make_family_case(seed, vascular=None)
    courses = case.truth["family"]["va_courses"]
    try:
        result = analyse_myelogram(case.ct)
    except CordotomyError as exc:
        return [{"seed": seed, "side": side, "course": courses[side], "error": str(exc)} for side in courses]
    overlaps: dict[str, bool | None] = {"left": None, "right": None}
    refused = None
    try:
        plan = plan_trajectory(result, case.ct, pain_side="right", pain_region="leg", seeds=load_seeds())
        overlaps = plan.to_json()["vertebral_artery"]["overlaps_window"]  # type: ignore[index]
    except CordotomyError as exc:  # e.g. a cord found only on weak CSF rings: no plan, arteries still scored
        refused = str(exc)
    rows: list[dict[str, object]] = []
    for side in ("left", "right"):
        truth = np.asarray(case.truth["vertebral_artery"]["centreline_lps_mm"][side], dtype=float)
        near = truth[np.abs(result.frame.to_frame(truth)[:, 2]) <= NEAR_WINDOW_MM]
        row: dict[str, object] = {
            "seed": seed,
            "side": side,
            "course": courses[side],
            "truth_over_window": bool(case.truth["vertebral_artery"]["overlaps_window"][side]),
            "plan_over_window": overlaps[side],
        }
        if refused is not None:
            row["plan_refused"] = refused
        artery = result.arteries.get(side)
        if artery is None:
            row["located"] = False
        else:
            distance = np.linalg.norm(near[:, None, :] - artery.centerline_lps_mm[None], axis=2).min(axis=1)
            row.update(
                located=True,
                p90_mm=round(float(np.percentile(distance, 90)), 2),
                max_mm=round(float(distance.max()), 2),
            )
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """Per course kind: sides, not located, median and worst 90th-percentile distance, worst maximum."""
    summary: dict[str, dict[str, object]] = {}
    for course in ("normal", "loop", "pfia"):
        sides = [row for row in rows if row["course"] == course and "error" not in row]
        located = [row for row in sides if row["located"]]
        entry: dict[str, object] = {"sides": len(sides), "not_located": len(sides) - len(located)}
        if located:
            p90 = np.array([float(row["p90_mm"]) for row in located])  # type: ignore[arg-type]
            worst = located[int(np.argmax(p90))]
            entry.update(
                p90_median_mm=round(float(np.median(p90)), 2),
                p90_worst_mm=round(float(p90.max()), 2),
                p90_worst_draw=f"{worst['seed']} {worst['side']}",
                max_worst_mm=max(float(row["max_mm"]) for row in located),  # type: ignore[arg-type]
            )
        summary[course] = entry
    return summary


def main() -> None:
    args = draws_parser(__doc__).parse_args()
    rows: list[dict[str, object]] = []
    for seed in range(args.first, args.first + args.draws):
        for row in score_draw(seed):
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = summarise(rows)
    print(f"\n{args.draws} draws (seeds {args.first}-{args.first + args.draws - 1}), no vascular series")
    print(
        f"{'course':<8}{'sides':>7}{'not located':>13}{'p90 median':>12}{'p90 worst':>11}  {'(draw)':<10}{'max worst':>10}"
    )
    for course, entry in summary.items():
        if not entry["sides"]:
            continue
        print(
            f"{course:<8}{entry['sides']:>7}{entry['not_located']:>13}{entry.get('p90_median_mm', '-'):>12}"
            f"{entry.get('p90_worst_mm', '-'):>11}  {entry.get('p90_worst_draw', ''):<10}{entry.get('max_worst_mm', '-'):>10}"
        )
    refused = sorted({row["seed"] for row in rows if "error" in row})  # type: ignore[type-var]
    print(f"analysis refused: {len(refused)} of {args.draws} draws {refused or ''}")
    unplanned = sorted({row["seed"] for row in rows if "plan_refused" in row})  # type: ignore[type-var]
    print(f"plan refused (arteries still scored): {len(unplanned)} draws {unplanned or ''}")
    missed = [
        f"{row['seed']} {row['side']}"
        for row in rows
        if row.get("truth_over_window") and row.get("plan_over_window") is False
    ]
    print(f"artery over the window in truth but not in the plan (must be 0): {len(missed)} {missed or ''}")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
