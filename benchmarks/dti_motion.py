"""Benchmark: rigid motion correction of isotropic DWI series (six parameters) against known motion.

Run from the project root::

    python benchmarks/dti_motion.py [--first 5] [--draws 16] [--series textured neck cord] [--motionless]

Three series generators of ``tests/dti/test_dti_motion.py``, each draw with its own seed. The first two
have 1.5 mm isotropic voxels (six-parameter model), 2 motionless b0s and 20 directions each moved by 1-4
degrees about a random axis and ±1.5 mm (``--motionless``: no motion at all):

- ``textured`` (:func:`isotropic_moving_series`): a textured slab around an anisotropic cord, with a
  diffusivity texture independent of the S0 texture and as strong in the log signal (the hard case);
- ``neck`` (:func:`neck_moving_series`): a neck section whose S0 and diffusivity go together tissue by
  tissue (CSF, cord, muscle, fat, bone, discs, airway), with a mild texture within each tissue.

Printed per draw and summarised per generator as median and worst (with its seed): the largest rotation
error (degrees) and displacement error (mm) over the volumes, and the time of one correction.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def dipy_errors(series, bvals: np.ndarray, bvecs: np.ndarray, rotations: np.ndarray, shifts_mm: np.ndarray):
    """The reference tool on the same series: dipy's ``motion_correction`` (rigid, mutual information,
    every volume to the first b0), scored by the tests' ``motion_errors``. Its transforms map reference
    to volume points in RAS and are turned into LPS first. Returns the worst rotation (degrees) and
    displacement (mm) errors and the seconds taken."""
    from dipy.align import motion_correction
    from dipy.core.gradients import gradient_table

    from tests.dti.test_dti_motion import motion_errors

    logging.getLogger("dipy").setLevel(logging.ERROR)  # its per-volume progress would bury the table
    flip = np.diag([-1.0, -1.0, 1.0])  # LPS <-> RAS
    start = time.perf_counter()
    _, affines = motion_correction(
        np.asarray(series.array, dtype=np.float64),
        gradient_table(bvals, bvecs=bvecs),
        affine=np.diag([-1.0, -1.0, 1.0, 1.0]) @ series.affine_lps,
        pipeline=["center_of_mass", "translation", "rigid"],
    )
    seconds = time.perf_counter() - start
    per_volume = np.moveaxis(affines, -1, 0)
    found = SimpleNamespace(
        rotations_lps=np.einsum("ij,njk,kl->nil", flip, per_volume[:, :3, :3], flip),
        translations_mm=per_volume[:, :3, 3] @ flip,
    )
    return (*motion_errors(found, rotations, shifts_mm), seconds)


def _series(name: str, seed: int, motionless: bool):
    """Series ``seed`` of generator ``name``: (volume, b-values, b-vectors, rotations, shifts)."""
    from tests.dti.test_dti_motion import (
        cord_moving_series,
        isotropic_moving_series,
        neck_moving_series,
        random_rigid_motion,
    )

    if name == "cord":
        return cord_moving_series(seed, still=motionless)
    rotations, shifts = random_rigid_motion(seed)
    if motionless:
        rotations, shifts = np.tile(np.eye(3), (len(rotations), 1, 1)), np.zeros_like(shifts)
    generator = neck_moving_series if name == "neck" else isotropic_moving_series
    return generator(seed, rotations, shifts)


def _summary(title: str, label: str, ours: np.ndarray, dipy: np.ndarray, seeds: list[int]) -> None:
    worst = int(np.argmax(ours))
    print(
        f"{title} {label}: median {np.median(ours):.2f}, worst {ours[worst]:.2f} (seed {seeds[worst]}); "
        f"dipy median {np.median(dipy):.2f}, worst {dipy.max():.2f}; ratio to dipy: median "
        f"{np.median(ours) / max(np.median(dipy), 1e-9):.2f}, worst {ours.max() / max(dipy.max(), 1e-9):.2f} "
        f"over {len(seeds)} accepted draws",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    from pipeline.dti.motion import correct_motion
    from pipeline.errors import AnalysisError
    from tests.dti.test_dti_motion import LIMITS, motion_errors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=5)
    parser.add_argument("--draws", type=int, default=16)
    parser.add_argument(
        "--series", nargs="+", choices=("textured", "neck", "cord"), default=["textured", "neck", "cord"]
    )
    parser.add_argument("--motionless", action="store_true")
    args = parser.parse_args(argv)
    seeds = list(range(args.first, args.first + args.draws))
    for name in args.series:
        rows, reference, refused = [], [], []
        for seed in seeds:
            series, bvals, bvecs, rotations, shifts = _series(name, seed, args.motionless)
            dipy_rotation, dipy_shift, dipy_seconds = dipy_errors(series, bvals, bvecs, rotations, shifts)
            dipy_text = (
                f"dipy rotation {dipy_rotation:.2f} deg  shift {dipy_shift:.2f} mm  {dipy_seconds:.1f} s"
            )
            start = time.perf_counter()
            try:
                found = correct_motion(series, bvals, bvecs, bvals < 50, limits=LIMITS)
            except AnalysisError as error:
                refused.append(seed)
                print(f"{name} seed {seed:3d}  refused: {error}  ({dipy_text})", flush=True)
                continue
            seconds = time.perf_counter() - start
            rotation_deg, shift_mm = motion_errors(found, rotations, shifts)
            rows.append((rotation_deg, shift_mm, seconds))
            reference.append((dipy_rotation, dipy_shift, dipy_seconds))
            print(
                f"{name} seed {seed:3d}  rotation {rotation_deg:.2f} deg  shift {shift_mm:.2f} mm  "
                f"{seconds:.1f} s  ({dipy_text})",
                flush=True,
            )
        title = f"{name}{' motionless' if args.motionless else ''}"
        if refused:
            print(f"{title}: refused on {len(refused)} of {len(seeds)} draws (seeds {refused})", flush=True)
        if not rows:
            continue
        table, dipy_table = np.array(rows), np.array(reference)
        accepted = [seed for seed in seeds if seed not in refused]
        for column, label in enumerate(("rotation error (deg)", "shift error (mm)", "time (s)")):
            _summary(title, label, table[:, column], dipy_table[:, column], accepted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
