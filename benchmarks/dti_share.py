"""Benchmark: the lesion's share of the cord (DTI) against the phantom's truth on random draws.

Run from the project root::

    python benchmarks/dti_share.py --draws 100 [--first 0] [--json OUT.json]

Each draw is a DWI phantom (:func:`pipeline.phantom.dwi.make_dwi_phantom`, SNR 30) with its own noise,
cordotomy side, cord size (Kanpolat et al. ranges of ``seeds/anatomy.yaml``), cord position and in-plane
rotation, in-plane pixel size (0.5-1.0 mm) and lesion radius (1.4-2.0 mm: 2.8-4 mm across, ablation plus oedema around the seeds' 1.6 mm). ``analyse_dwi`` runs twice on
the true cord mask: with the lesion detected and with the true (pure-voxel) lesion mask. Printed per
draw and summarised as median and worst: |share - truth| in percentage points, the larger of the two
runs (truth: the generator's lesion area over cord area on the lesion slices, partial volume
included), and |detected - mask|. A draw where detection finds no lesion (exit 4 in the command, no
number) is counted apart and scored on its mask run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIELD_OF_VIEW_MM = 32.0
PIXEL_MM = (0.5, 1.0)
LESION_RADIUS_MM = (1.4, 2.0)


def draw_parameters(seed: int) -> dict[str, object]:
    """The random phantom parameters of draw ``seed`` (the same seed always gives the same draw)."""
    from pipeline.seeds import load_seeds

    seeds = load_seeds()
    rng = np.random.default_rng([21, seed])
    ap = float(rng.uniform(*seeds.numbers("anatomy.cord.ap_range_mm")))
    lo, hi = seeds.numbers("anatomy.cord.transverse_range_mm")
    pixel = float(rng.uniform(*PIXEL_MM))
    return {
        "seed": seed,
        "side": str(rng.choice(["left", "right"])),
        "offset_mm": [float(x) for x in rng.uniform(-3.0, 3.0, 2)],
        "rotation_deg": float(rng.uniform(-40.0, 40.0)),
        "cord_ap_mm": ap,
        "cord_transverse_mm": float(rng.uniform(max(lo, ap), hi)),
        "pixel_mm": pixel,
        "lesion_radius_mm": float(rng.uniform(*LESION_RADIUS_MM)),
        "matrix": int(np.ceil(FIELD_OF_VIEW_MM / pixel)),
    }


def make_draw(seed: int, snr: float | None = 30.0):  # type: ignore[no-untyped-def]
    """The phantom of draw ``seed`` and its parameters (``snr=None``: noise-free, for the method's own error)."""
    from pipeline.phantom.dwi import make_dwi_phantom
    from pipeline.seeds import Seed, Seeds, load_seeds

    params = draw_parameters(seed)
    seeds = load_seeds()
    entries = dict(seeds)
    for key, value in (
        ("diffusion.dwi_protocol.in_plane_mm", params["pixel_mm"]),
        ("diffusion.lesion_radius_mm", params["lesion_radius_mm"]),
    ):
        entries[key] = Seed(key, value, "random draw (benchmarks/dti_share.py)", True, seeds[key].unit)
    n = int(params["matrix"])  # type: ignore[call-overload]
    phantom = make_dwi_phantom(
        seed=seed,
        snr=snr,
        cordotomy_side=str(params["side"]),
        cord_offset_mm=tuple(params["offset_mm"]),  # type: ignore[arg-type]
        rotation_deg=float(params["rotation_deg"]),  # type: ignore[arg-type]
        matrix=(n, n, 10),
        cord_ap_mm=float(params["cord_ap_mm"]),  # type: ignore[arg-type]
        cord_transverse_mm=float(params["cord_transverse_mm"]),  # type: ignore[arg-type]
        seeds=Seeds(entries),
    )
    return phantom, params


def score_draw(seed: int) -> dict[str, object]:
    """Share of the detected and of the mask-based run of one draw, against the truth."""
    from pipeline.dti import analyse_dwi
    from pipeline.errors import CordotomyError

    phantom, params = make_draw(seed)
    truth = float(phantom.truth["lesion_cord_fraction_percent"])
    row: dict[str, object] = {**params, "truth_percent": round(truth, 3)}
    shares = {}
    for name, mask in (("detected", None), ("mask", phantom.lesion_mask)):
        try:
            analysis = analyse_dwi(
                phantom.volume,
                phantom.bvals_s_mm2,
                phantom.bvecs,
                cord_mask=phantom.cord_mask,
                lesion_mask=mask,
            )
        except CordotomyError as exc:
            row[f"{name}_error"] = str(exc)
            continue
        shares[name] = analysis.lesion_cord_fraction_percent
        row[f"{name}_percent"] = round(analysis.lesion_cord_fraction_percent, 3)
        row[f"{name}_method"] = analysis.lesion_cord_fraction_method
    for name, value in shares.items():
        row[f"{name}_error_points"] = abs(value - truth)
    row["error_points"] = max(abs(v - truth) for v in shares.values()) if shares else float("inf")
    row["mask_vs_detected_points"] = (
        abs(shares["detected"] - shares["mask"]) if len(shares) == 2 else float("nan")
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for seed in range(args.first, args.first + args.draws):
        row = score_draw(seed)
        rows.append(row)
        print(
            f"seed {seed:3d}  pixel {row['pixel_mm']:.2f} mm  radius {row['lesion_radius_mm']:.2f} mm  "
            f"truth {row['truth_percent']:6.2f} %  detected {row.get('detected_percent', 'error')}  "
            f"mask {row.get('mask_percent', 'error')}  |error| {row['error_points']:.2f} points",
            flush=True,
        )
    for key in ("error_points", "mask_vs_detected_points"):
        values = np.array([float(r[key]) for r in rows])  # type: ignore[arg-type]
        usable = np.flatnonzero(np.isfinite(values))
        worst = int(usable[np.argmax(values[usable])])
        print(
            f"{key}: median {np.median(values[usable]):.3f}, worst {values[worst]:.3f} "
            f"(seed {rows[worst]['seed']}) over {usable.size} draws"
        )
    missed = [r["seed"] for r in rows if "detected_error" in r]
    print(f"detection found no lesion on {len(missed)} draws {missed} (exit 4, no share; mask runs scored)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
