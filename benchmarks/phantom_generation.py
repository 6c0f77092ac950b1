"""Benchmark: time to generate the default sample study (issue 3 asks for < 20 s on 2 cores).

Run: ``python benchmarks/phantom_generation.py``. Prints the time of each phase, the ratio to the 20 s
budget, and, as a reference measured in the same run on the same files, the time dcm2niix (the field's
reference DICOM converter) takes just to convert the study the generator wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.phantom import make_ct_case, make_dwi_phantom, write_study

BUDGET_S = 20.0
REPEATS = 3


def _best_of(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    ct_only = _best_of(lambda: make_ct_case("normal", vascular=None))
    ct_cta = _best_of(lambda: make_ct_case("normal", vascular="cta"))
    dwi = _best_of(lambda: make_dwi_phantom())
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(100))
        study = _best_of(lambda: write_study(Path(tmp) / f"s{next(counter)}", transfer_syntax="explicit"))
        study_rle = _best_of(lambda: write_study(Path(tmp) / f"r{next(counter)}", transfer_syntax="rle"))
        out = Path(tmp) / "nii"
        out.mkdir()
        convert = _best_of(
            lambda: subprocess.run(
                [dcm2niix, "-z", "n", "-o", str(out), str(Path(tmp) / "s0" / "dicom")],
                capture_output=True,
                check=True,
            )
        )
    print(f"CT myelogram only (in memory):        {ct_only:6.2f} s")
    print(f"CT myelogram + CTA (in memory):       {ct_cta:6.2f} s")
    print(f"DWI phantom (in memory):              {dwi:6.2f} s")
    print(f"default study written (uncompressed): {study:6.2f} s  = {study / BUDGET_S:.2f} x the 20 s budget")
    print(
        f"default study written (RLE):          {study_rle:6.2f} s  = {study_rle / BUDGET_S:.2f} x the 20 s budget"
    )
    print(
        f"reference: dcm2niix converting it:    {convert:6.2f} s  (generation / conversion = {study / convert:.1f})"
    )
    return 0 if study <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
