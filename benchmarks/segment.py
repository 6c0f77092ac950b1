"""Benchmark: myelogram segmentation of a 512x512x200 CT myelogram (time and peak memory).

Run from the project root::

    python benchmarks/segment.py [--repeats 3]

The volume is the sample-case generator's fine-voxel CT myelogram (0.35 x 0.35 x 0.6 mm) placed in a
512 x 512 x 200 grid (179 x 179 x 120 mm, a typical neck field of view) padded with soft tissue and CT
noise, as int16 HU. Each measurement runs in a fresh child process (so its peak resident memory is its
own) and is the best of ``--repeats``:

* ``segment_cord`` alone (cord and CSF);
* ``analyse_myelogram`` without a vascular series (cord, CSF, C1/C2, frame, dentate ligaments, vertebral
  artery estimate and the label map): what ``cordotomy segment`` runs.

No reference tool segments a CT myelogram (the Spinal Cord Toolbox segments the cord on MRI only;
TotalSegmentator has no CSF, dentate or artery classes and needs trained weights), so as a scale the
same children also time the floor any method pays: a SimpleITK 3-D Gaussian smoothing plus a threshold
and connected-component labelling of the whole volume. Targets (issue #5): <= 15 s on 2 cores, <= 2 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPE = (512, 512, 200)
SPACING_MM = (0.35, 0.35, 0.6)


def build_volume(path: Path) -> None:
    """The fine-voxel phantom CT embedded in a 512x512x200 grid; saved as .npy with its affine."""
    from pipeline.phantom.ct import make_ct_case

    case = make_ct_case("fine", seed=0, vascular=None)
    rng = np.random.default_rng(0)
    array = rng.normal(45.0, 30.0, SHAPE).astype(np.float32)
    small = case.ct.array
    offset = [(big - sub) // 2 for big, sub in zip(SHAPE, small.shape, strict=True)]
    array[
        offset[0] : offset[0] + small.shape[0],
        offset[1] : offset[1] + small.shape[1],
        offset[2] : offset[2] + small.shape[2],
    ] = small
    affine = case.ct.affine_lps.copy()
    affine[:3, 3] = case.ct.index_to_lps(-np.asarray(offset, dtype=float))
    np.save(path / "ct.npy", np.clip(np.rint(array), -1024, 3071).astype(np.int16))
    np.save(path / "affine.npy", affine)


def _child(task: str, folder: str, queue: mp.Queue) -> None:
    from pipeline.volume import Provenance, Volume

    array = np.load(Path(folder) / "ct.npy")
    affine = np.load(Path(folder) / "affine.npy")
    volume = Volume(array, affine, Provenance(source="benchmark", description="benchmark CT myelogram"))
    start = time.perf_counter()
    if task == "segment_cord":
        from pipeline.myelogram import segment_cord

        segment_cord(volume)
    elif task == "analyse_myelogram":
        from pipeline.myelogram.analysis import analyse_myelogram

        analyse_myelogram(volume)
    else:
        import SimpleITK as sitk

        image = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
        smooth = sitk.SmoothingRecursiveGaussian(image, 0.4)
        sitk.ConnectedComponent(sitk.BinaryThreshold(smooth, 150.0, 3000.0))
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((elapsed, peak_kb / 1024.0))


def measure(task: str, folder: str, repeats: int) -> tuple[float, float]:
    best_time, peak_mb = np.inf, 0.0
    context = mp.get_context("spawn")
    for _ in range(repeats):
        queue: mp.Queue = context.Queue()
        process = context.Process(target=_child, args=(task, folder, queue))
        process.start()
        elapsed, peak = queue.get()
        process.join()
        best_time = min(best_time, elapsed)
        peak_mb = max(peak_mb, peak)
    return float(best_time), float(peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        build_volume(Path(folder))
        print(
            f"volume {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} int16, voxels {SPACING_MM} mm; best of {args.repeats}"
        )
        floor, floor_mb = measure("floor", folder, args.repeats)
        print(
            f"  floor: SimpleITK smoothing + threshold + components   {floor:6.2f} s   peak {floor_mb:7.0f} MB"
        )
        for task in ("segment_cord", "analyse_myelogram"):
            elapsed, peak = measure(task, folder, args.repeats)
            print(
                f"  {task:<19} {elapsed:6.2f} s  = {elapsed / floor:5.1f}x floor, "
                f"{elapsed / 15.0:4.2f}x the 15 s target;  peak {peak:7.0f} MB = {peak / 2048.0:4.2f}x the 2 GB target"
            )


if __name__ == "__main__":
    main()
