"""Benchmark: trajectory planning after segmentation on the committed sample case (target < 3 s).

Run from the project root::

    python benchmarks/plan.py [--repeats 5]

The sample case's CT myelogram (``sample_data/normal/dicom``) is loaded and segmented once (not timed);
then :func:`pipeline.trajectory.plan_trajectory` is timed for each pain side and region, best and worst of
``--repeats``. No tool plans this procedure automatically, so there is no reference to compare with; as a
scale the run also times one SciPy Euclidean distance transform of the label grid (the planner computes
one for bone and, with a vascular series, one for the arteries).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--input", default=str(ROOT / "sample_data" / "normal" / "dicom"))
    args = parser.parse_args(argv)

    from scipy import ndimage

    from pipeline.ingest import Role, Study
    from pipeline.myelogram import analyse_myelogram
    from pipeline.myelogram import io as myelogram_io
    from pipeline.seeds import load_seeds
    from pipeline.trajectory import plan_trajectory

    image = myelogram_io.load_image(Study.open(args.input, role=Role.CT_MYELOGRAM))
    start = time.perf_counter()
    result = analyse_myelogram(image)
    segmentation_s = time.perf_counter() - start
    seeds = load_seeds()
    timings: list[float] = []
    for _ in range(args.repeats):
        for side in ("left", "right"):
            for region in ("leg", "arm"):
                start = time.perf_counter()
                plan_trajectory(result, image, pain_side=side, pain_region=region, seeds=seeds)
                timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    ndimage.distance_transform_edt(np.asarray(result.labels.array) == 0, sampling=result.labels.spacing_mm)
    edt_s = time.perf_counter() - start
    worst = max(timings)
    print(f"case: {args.input} ({'x'.join(str(n) for n in image.array.shape)} voxels)")
    print(f"segmentation (not part of the target): {segmentation_s:.2f} s")
    print(
        f"planning after segmentation: best {min(timings):.3f} s, median {np.median(timings):.3f} s, "
        f"worst {worst:.3f} s over {len(timings)} plans (target < {TARGET_S:.0f} s): "
        f"{'OK' if worst < TARGET_S else 'TOO SLOW'}"
    )
    print(f"scale: one Euclidean distance transform of the label grid {edt_s:.3f} s")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
