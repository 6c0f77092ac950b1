"""Benchmark: myelogram segmentation accuracy on random draws of the phantom family.

Run from the project root::

    python benchmarks/segment_family.py --draws 100 [--first 0] [--coarse] [--json OUT.json]

Each draw (:func:`pipeline.phantom.family.make_family_case`) has its own vertebral sizes and shapes, cord
and sac, head pose, contrast density (200-1000 HU), noise, voxel size and field of view, and a CTA or 3D T2
vascular series. ``analyse_myelogram`` runs on it and every structure is scored against the generator's
labels: Dice for the contrast-filled CSF (with the dentate ligament, a sub-voxel sheet inside it), the cord,
C1, C2 and each vertebral artery, and the CSF volume against the truth. Prints one line per draw, then the
median and the worst draw of every measure (the reference here is the ground truth, not another tool: no
other tool segments these structures on a CT myelogram).

``--coarse`` scores the coarse family instead (:func:`pipeline.phantom.family.make_coarse_case`: 2.7-3.9 mm
pixels resampled to 0.54-0.78 mm, contrast 270-315 HU, no vascular series), as issue 13's held-out real
head-and-neck CTs; it also prints the share of the found CSF that lies in true bone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _family_draws import draws_parser

CT_MEASURES = ("csf", "cord", "c1", "c2")
MEASURES = (*CT_MEASURES, "va_left", "va_right")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return float(2 * np.logical_and(a, b).sum() / total) if total else 1.0


def score_draw(seed: int, coarse: bool = False) -> dict[str, object]:
    """Dice per structure, CSF volume error and warnings of one draw."""
    from pipeline.errors import CordotomyError
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.phantom.family import make_coarse_case, make_family_case

    case = make_coarse_case(seed) if coarse else make_family_case(seed)
    params = case.truth["family"]
    row: dict[str, object] = {
        "seed": seed,
        "contrast_hu": round(params["csf_contrast_hu"], 1),
        "spacing_mm": [round(s, 2) for s in params["spacing_mm"]],
        "vascular": params["vascular_kind"],
        "noise_hu": round(params["noise_sd_hu"], 1),
    }
    if coarse:
        row["coarse_pixel_mm"] = round(case.truth["coarse_pixel_mm"], 2)
    start = time.perf_counter()
    try:
        result = analyse_myelogram(case.ct, vascular=case.vascular, vascular_modality=params["vascular_kind"])
    except CordotomyError as exc:
        row.update(dict.fromkeys(MEASURES, 0.0))
        row.update({"csf_volume_error_percent": -100.0, "csf_in_bone_percent": 0.0, "error": str(exc)})
        return row
    row["seconds"] = round(time.perf_counter() - start, 1)
    truth, found = case.labels.array, result.labels.array
    pairs = {
        "csf": (np.isin(found, (1, 8)), np.isin(truth, (1, 8))),
        "cord": (found == 2, truth == 2),
        "c1": (found == 3, truth == 3),
        "c2": (found == 4, truth == 4),
        "va_left": (found == 6, truth == 6),
        "va_right": (found == 7, truth == 7),
    }
    for name, (ours, reference) in pairs.items():
        row[name] = round(_dice(ours, reference), 4)
    csf_truth = int(pairs["csf"][1].sum())
    row["csf_volume_error_percent"] = round(100.0 * (int(pairs["csf"][0].sum()) - csf_truth) / csf_truth, 2)
    in_bone = int((pairs["csf"][0] & np.isin(truth, (3, 4, 5))).sum())
    row["csf_in_bone_percent"] = round(100.0 * in_bone / csf_truth, 2)
    row["weak_rings"] = result.cord.weak_rings
    row["warnings"] = list(result.warnings)
    return row


def summarise(
    rows: list[dict[str, object]], measures: tuple[str, ...] = MEASURES
) -> dict[str, dict[str, float | int]]:
    """Median and worst value (with its draw) of every measure."""
    summary: dict[str, dict[str, float | int]] = {}
    for name in measures:
        values = np.array([float(row[name]) for row in rows])  # type: ignore[arg-type]
        worst = int(np.argmin(values))
        summary[name] = {
            "median": round(float(np.median(values)), 4),
            "worst": round(float(values[worst]), 4),
            "worst_seed": int(rows[worst]["seed"]),  # type: ignore[call-overload]
        }
    errors = np.array([abs(float(row["csf_volume_error_percent"])) for row in rows])  # type: ignore[arg-type]
    worst = int(np.argmax(errors))
    summary["csf_volume_abs_error_percent"] = {
        "median": round(float(np.median(errors)), 2),
        "worst": round(float(errors[worst]), 2),
        "worst_seed": int(rows[worst]["seed"]),  # type: ignore[call-overload]
    }
    in_bone = np.array([float(row["csf_in_bone_percent"]) for row in rows])  # type: ignore[arg-type]
    worst = int(np.argmax(in_bone))
    summary["csf_in_bone_percent"] = {
        "median": round(float(np.median(in_bone)), 2),
        "worst": round(float(in_bone[worst]), 2),
        "worst_seed": int(rows[worst]["seed"]),  # type: ignore[call-overload]
    }
    return summary


def main() -> None:
    parser = draws_parser(__doc__)
    parser.add_argument("--coarse", action="store_true", help="score the coarse family (see above)")
    args = parser.parse_args()
    rows = []
    for seed in range(args.first, args.first + args.draws):
        row = score_draw(seed, args.coarse)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # The coarse family has no vascular series: its artery scores would be zeros, not a measure.
    summary = summarise(rows, CT_MEASURES if args.coarse else MEASURES)
    print(f"\n{len(rows)} draws (seeds {args.first}-{args.first + args.draws - 1})")
    print(f"{'measure':<30}{'median':>10}{'worst':>10}{'worst seed':>12}")
    for name, values in summary.items():
        print(f"{name:<30}{values['median']:>10}{values['worst']:>10}{values['worst_seed']:>12}")
    refused = [row["seed"] for row in rows if "error" in row]
    print(f"refused: {len(refused)} of {len(rows)} draws {refused or ''}")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
