"""Benchmark: a whole case, study folder to report (``cordotomy run``): time and peak memory.

Run from the project root::

    python benchmarks/end_to_end.py [--repeats 1] [--keep DIR]

The study holds a 512 x 512 x 200 CT myelogram (the sample generator's fine-voxel phantom padded to a
typical neck field of view, as in ``benchmarks/segment.py``), written as a DICOM series, plus the bundled
post-procedure cord DWI (``sample_data/normal/dicom/dwi``: 22 volumes). ``cordotomy run`` runs in a
fresh child process limited to 2 threads: DICOM loading, segmentation, trajectory plan, DTI, DICOM
SEG and SR, results.json and the HTML report with its figures. Its wall time and peak resident memory
(the child's own ``ru_maxrss``) are printed with the stage timings it reports. Targets (issue #15):
<= 30 s on 2 cores and <= 2 GB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 30.0
TARGET_MB = 2048.0


def build_study(folder: Path) -> None:
    """CT myelogram 512x512x200 as DICOM plus the sample DWI, in one study folder."""
    from pipeline.phantom.dicom_series import SeriesInfo, StudyInfo, write_ct_series
    from pipeline.volume import Volume

    spec = importlib.util.spec_from_file_location("segment_benchmark", ROOT / "benchmarks" / "segment.py")
    assert spec is not None
    assert spec.loader is not None
    segment_benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(segment_benchmark)
    arrays = folder / "arrays"
    arrays.mkdir(parents=True)
    segment_benchmark.build_volume(arrays)
    ct = Volume(np.load(arrays / "ct.npy").astype(np.float32), np.load(arrays / "affine.npy"))
    study = StudyInfo(key="benchmark-end-to-end")
    write_ct_series(ct, folder / "study" / "ct", study, SeriesInfo(2, "CT myelogram C1-C2 benchmark", "ct"))
    shutil.copytree(ROOT / "sample_data" / "normal" / "dicom" / "dwi", folder / "study" / "dwi")
    shutil.rmtree(arrays)


def run_case(study: Path, out: Path) -> tuple[float, float, float, dict[str, object]]:
    """Wall time (s), CPU time (s), peak memory (MB) and the --json summary of one `cordotomy run` child."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "2",
           "OPENBLAS_NUM_THREADS": "2", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "2"}  # fmt: skip
    command = [sys.executable, "-m", "pipeline", "run", str(study), "--pain-side", "right",
               "--pain-region", "leg", "--out", str(out), "--json", "--force"]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # os.wait4 gives this child's own resource usage (peak RSS in kB on Linux).
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stdout = process.stdout.read() if process.stdout else ""
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cordotomy run failed:\n{stderr[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, json.loads(stdout)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs; the best is reported")
    parser.add_argument("--keep", type=Path, help="keep the study and the outputs in this folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cordotomy-e2e-")) if args.keep is None else args.keep
    try:
        start = time.perf_counter()
        build_study(folder)
        print(f"study: 512x512x200 CT myelogram + sample DWI, written in {time.perf_counter() - start:.1f} s")
        best: tuple[float, float, float, dict[str, object]] | None = None
        for _ in range(args.repeats):
            result = run_case(folder / "study", folder / "out")
            if best is None or result[0] < best[0]:
                best = result
        assert best is not None
        seconds, cpu_seconds, peak_mb, summary = best
        stages = summary.get("stages", {})
        assert isinstance(stages, dict)
        breakdown = ", ".join(
            f"{name} {stage['seconds']:.1f} s"
            for name, stage in stages.items()
            if stage.get("seconds") is not None
        )
        print(f"whole case (cordotomy run, 2 threads): {seconds:.1f} s wall (target <= {TARGET_S:.0f} s)")
        print(
            f"CPU time (user + system): {cpu_seconds:.1f} s; load average now {os.getloadavg()[0]:.1f}"
            " (wall time is inflated when other work shares the cores)"
        )
        print(f"peak memory: {peak_mb:.0f} MB (target <= {TARGET_MB:.0f} MB)")
        print(f"stages: {breakdown}; the rest is start-up, DICOM loading and series discovery")
        print(f"flags: {[f['code'] for f in summary.get('flags', [])]}")  # type: ignore[union-attr]
        return 0 if seconds <= TARGET_S and peak_mb <= TARGET_MB else 1
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
