"""Benchmark: load a 512x512x400 uncompressed CT series to an HU volume.

Run from the project root::

    python benchmarks/load_series.py [--slices 400] [--repeats 7]

Builds the series in a temporary folder (a real CT header from pydicom's bundled CT_small.dcm, with
512x512 int16 pixels, 0.6 mm slices, random file names), then measures in the same run, each as the
best of ``--repeats`` interleaved warm-cache rounds (other processes on the machine only add time):

* the raw read floor: read every file's bytes and wrap its pixels with ``np.frombuffer`` (no sorting,
  no geometry, no HU conversion: nothing can be faster);
* for context, the int16 -> float32 conversion alone into a fresh array (no I/O), the part of the work
  that a loader returning float32 HU would add to the floor (ours returns int16 HU for such a series:
  slope 1 and a whole intercept make whole HU);
* ``pipeline.ingest.load_series`` (headers, sort, validation, exact affine, int16 HU);
* SimpleITK's ``ImageSeriesReader`` (GDCM file sorting, its own output type for this series: int16 HU);
* ``dcm2niix -z n`` (uncompressed NIfTI to a temporary folder);
* our loader again on the same files hard-linked under names that are shuffled against slice order;
* the header pass alone: our :func:`pipeline.ingest.header.read_header` against
  ``pydicom.dcmread(stop_before_pixels=True)`` on every file (the measurement that keeps the hand-written
  header walker; see its module docstring).

Targets (issues #2, #11): >= 35 % of the floor, >= 2.5x SimpleITK, >= 1.3x dcm2niix, no slower shuffled.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.ingest import load_series
from pipeline.ingest.header import read_header

SIZE = 512


def build_series(folder: Path, slices: int, seed: int = 0) -> list[Path]:
    """Write ``slices`` 512x512 CT files with random names; returns them in slice order."""
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    body = ((xx - SIZE / 2) ** 2 / 200**2 + (yy - SIZE / 2) ** 2 / 160**2) < 1.0
    series_uid = pydicom.uid.generate_uid()
    paths = []
    for k in range(slices):
        ds = copy.deepcopy(template)
        ds.Rows = ds.Columns = SIZE
        ds.PixelSpacing = [0.5, 0.5]
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [-128.0, -128.0, -90.0 + 0.6 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        image = np.where(body, 1064, 24) + rng.normal(0, 20, (SIZE, SIZE))
        ds.PixelData = image.astype(np.int16).tobytes()
        path = folder / f"{rng.integers(10**12):012d}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def raw_floor(folder: Path) -> list[np.ndarray]:
    """Read every file and view its last Rows*Columns*2 bytes as int16 (the fastest possible)."""
    arrays = []
    for entry in os.scandir(folder):
        with open(entry.path, "rb") as handle:
            data = handle.read()
        arrays.append(np.frombuffer(data, dtype=np.int16, offset=len(data) - SIZE * SIZE * 2))
    return arrays


def float_conversion(stored: np.ndarray) -> np.ndarray:
    """Only the int16 -> float32 HU conversion into a fresh array, no I/O: what any float32 output costs."""
    out = np.empty(stored.shape, dtype=np.float32)
    np.copyto(out, stored, casting="unsafe")
    out += np.float32(-1024)
    return out


def simpleitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def dcm2niix_command() -> str:
    found = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    if not Path(found).exists():
        raise SystemExit("dcm2niix not found (pip install dcm2niix, or apt install dcm2niix)")
    return found


def run_dcm2niix(folder: Path, command: str) -> None:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([command, "-z", "n", "-o", out, str(folder)], check=True, capture_output=True)


def headers_ours(folder: Path) -> None:
    for entry in os.scandir(folder):
        read_header(entry.path)


def headers_pydicom(folder: Path) -> None:
    for entry in os.scandir(folder):
        pydicom.dcmread(entry.path, stop_before_pixels=True)


def best_of_interleaved(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best (minimum) wall time of each contender over ``repeats`` rounds; other load only adds time."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, function in contenders.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    command = dcm2niix_command()
    with tempfile.TemporaryDirectory() as tmp:
        ordered = Path(tmp) / "ordered"
        shuffled = Path(tmp) / "shuffled"
        ordered.mkdir()
        shuffled.mkdir()
        paths = build_series(ordered, args.slices)
        # Same files under names sorted against slice order, then name-sorted = random slice order.
        for rank, index in enumerate(np.random.default_rng(1).permutation(len(paths))):
            os.link(paths[index], shuffled / f"IM{rank:05d}")
        for rank, path in enumerate(paths):  # and in the ordered folder, names sort in slice order
            path.rename(ordered / f"IM{rank:05d}")

        volume = load_series(ordered)  # warm the page cache and check the result
        reference = sitk.GetArrayFromImage(simpleitk(ordered)).transpose(2, 1, 0)
        assert volume.array.dtype == np.int16
        assert volume.shape == (SIZE, SIZE, args.slices)
        assert np.array_equal(volume.array, reference), "our HU volume differs from SimpleITK's"
        run_dcm2niix(ordered, command)

        stored = np.stack(raw_floor(ordered))
        # Interleaved: every round runs every contender once, so a busy spell on the machine hits all.
        best = best_of_interleaved(
            {
                "floor": lambda: raw_floor(ordered),
                "conversion": lambda: float_conversion(stored),
                "ours": lambda: load_series(ordered),
                "ours_shuffled": lambda: load_series(shuffled),
                "itk": lambda: simpleitk(ordered),
                "d2n": lambda: run_dcm2niix(ordered, command),
                "headers_ours": lambda: headers_ours(ordered),
                "headers_pydicom": lambda: headers_pydicom(ordered),
            },
            args.repeats,
        )
    floor, conversion, ours = best["floor"], best["conversion"], best["ours"]
    ours_shuffled, itk, d2n = best["ours_shuffled"], best["itk"], best["d2n"]

    megabytes = args.slices * SIZE * SIZE * 2 / 1e6
    print(
        f"series: {SIZE}x{SIZE}x{args.slices} int16, {megabytes:.0f} MB of pixels; best of {args.repeats} runs"
    )
    print(f"raw read floor (read + np.frombuffer): {floor:7.3f} s")
    print(
        f"float32 conversion alone, in memory:   {conversion:7.3f} s  (context: what a float32 output would add)"
    )
    print(
        f"pipeline.ingest.load_series:           {ours:7.3f} s  = {floor / ours:6.1%} of the floor (target >= 35 %)"
    )
    print(
        f"  shuffled file order:                 {ours_shuffled:7.3f} s  = {ours_shuffled / ours:5.2f}x the ordered time (target <= ~1)"
    )
    print(
        f"SimpleITK ImageSeriesReader:           {itk:7.3f} s  -> ours {itk / ours:5.2f}x faster (target >= 2.5x)"
    )
    print(
        f"dcm2niix -z n:                         {d2n:7.3f} s  -> ours {d2n / ours:5.2f}x faster (target >= 1.3x)"
    )
    h_ours, h_pydicom = best["headers_ours"], best["headers_pydicom"]
    print(
        f"headers only, ours / pydicom dcmread:  {h_ours:7.3f} s / {h_pydicom:.3f} s -> {h_pydicom / h_ours:5.2f}x "
        f"(pydicom's header pass alone would be {h_pydicom / floor:4.1f}x the whole read floor)"
    )


if __name__ == "__main__":
    main()
