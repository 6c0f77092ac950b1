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
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    from pipeline.dti.motion import correct_motion
    from pipeline.errors import AnalysisError
    from tests.dti.test_dti_motion import (
        LIMITS,
        cord_moving_series,
        isotropic_moving_series,
        motion_errors,
        neck_moving_series,
        random_rigid_motion,
    )

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
        rows, refused = [], []
        for seed in seeds:
            rotations, shifts = random_rigid_motion(seed)
            if args.motionless:
                rotations, shifts = np.tile(np.eye(3), (len(rotations), 1, 1)), np.zeros_like(shifts)
            if name == "cord":
                series, bvals, bvecs, rotations, shifts = cord_moving_series(seed, still=args.motionless)
            elif name == "neck":
                series, bvals, bvecs, _, _ = neck_moving_series(seed, rotations, shifts)
            else:
                series, bvals, bvecs, _, _ = isotropic_moving_series(seed, rotations, shifts)
            start = time.perf_counter()
            try:
                found = correct_motion(series, bvals, bvecs, bvals < 50, limits=LIMITS)
            except AnalysisError as error:
                refused.append(seed)
                print(f"{name} seed {seed:3d}  refused: {error}", flush=True)
                continue
            seconds = time.perf_counter() - start
            rotation_deg, shift_mm = motion_errors(found, rotations, shifts)
            rows.append((rotation_deg, shift_mm, seconds))
            print(
                f"{name} seed {seed:3d}  rotation {rotation_deg:.2f} deg  shift {shift_mm:.2f} mm  "
                f"{seconds:.1f} s",
                flush=True,
            )
        title = f"{name}{' motionless' if args.motionless else ''}"
        if refused:
            print(f"{title}: refused on {len(refused)} of {len(seeds)} draws (seeds {refused})", flush=True)
        if not rows:
            continue
        table = np.array(rows)
        accepted = [seed for seed in seeds if seed not in refused]
        for column, label in enumerate(("rotation error (deg)", "shift error (mm)", "time (s)")):
            worst = int(np.argmax(table[:, column]))
            print(
                f"{title} {label}: median {np.median(table[:, column]):.2f}, worst "
                f"{table[worst, column]:.2f} (seed {accepted[worst]}) over {len(rows)} accepted draws",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
