"""Fuzz the DICOM ingest: mutate tags and bytes of real files and check that every load ends well.

Run from the project root::

    python benchmarks/fuzz_ingest.py --minutes 15 [--seed 0] [--save crashes/]

Seeds (the unmutated cases): pydicom's bundled test files (one file each, several encodings: explicit,
implicit, big endian, RLE, JPEG 2000, JPEG-LS, a multi-frame dose), a few slices of the committed phantom
study (``sample_data/normal``: RLE CT, DWI), and, when ``CORDOTOMY_TEST_DATA`` points at the shared
data, a few files of the real series there (tilted GE CT, GE classic DWI, Siemens mosaic DWI, Siemens
XA enhanced DWI).

Each iteration copies one seed case into a temporary folder and applies 1-4 mutations: set an attribute
to a hostile value (0, -1, 65535, NaN, inf, 1e308, garbage text) through pydicom; overwrite bytes or a
32-bit word (lengths become 0xFFFFFFFF...); truncate; delete or duplicate a file; drop in a file of
another seed. A worker process then runs what the commands run: ``discover`` (inspect), and for every
series ``load_series``, ``series_datasets`` and, for diffusion series, ``load_dwi``. Outcomes:

* ok: every call returned or raised our :class:`~pipeline.errors.CordotomyError`;
* crash: any other exception (or the worker died); its root is the exception type plus the innermost
  frame inside ``pipeline/``;
* hang: one case took longer than ``--timeout`` seconds (2 s); it is retried once in a fresh worker
  before it counts, so that a busy machine does not invent hangs;
* garbage: a returned Volume with non-finite voxels or affine, or non-finite / negative b-values.

Prints iterations, crashes, hangs, garbage and the distinct roots (with a count and one example).
Exit code 0 when nothing was found, 1 otherwise. :func:`run_fuzz` is also used by the test suite with a
time budget of about 40 s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# Attributes the ingest reads, and values that have broken readers before.
_KEYWORDS = [
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "RescaleSlope",
    "RescaleIntercept",
    "SliceThickness",
    "SpacingBetweenSlices",
    "GantryDetectorTilt",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "SeriesNumber",
    "InstanceNumber",
    "AcquisitionNumber",
    "Modality",
    "ImageType",
    "SpecificCharacterSet",
    "PixelPaddingValue",
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "TemporalPositionIdentifier",
    "SOPClassUID",
]
_NUMBERS: list[Any] = [0, -1, 1, 2, 3, 7, 12, 64, 255, 32767, 65535, 2**31 - 1, 10**9]
_FLOATS: list[Any] = ["NaN", "inf", "-inf", "1e308", "-1e308", "0", "-0", "1e-30", "-5", "3.5"]
_TEXTS: list[Any] = ["", "\\", "ISO_IR 192", "ISO 2022 IR 87\\ISO 2022 IR 159", "GARBAGE\x00\xff", "1.2.3"]
_WORDS = [0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x0000FFFF, 0x00010000]


@dataclass
class Finding:
    kind: str  # crash, hang, garbage
    root: str
    detail: str
    seed: str
    mutations: list[str]


@dataclass
class Report:
    iterations: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def roots(self) -> Counter[str]:
        return Counter(f"{f.kind}: {f.root}" for f in self.findings)


# -- seeds ----------------------------------------------------------------------------------------------


def _pydicom_seeds() -> dict[str, dict[str, bytes]]:
    from pydicom.data import get_testdata_file

    seeds = {}
    for name in (
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEG2000.dcm",
        "rtdose.dcm",
    ):
        path = get_testdata_file(name, download=False)
        if path is not None:
            seeds[f"pydicom/{name}"] = {name: Path(path).read_bytes()}
    return seeds


def _folder_seed(folder: Path, count: int, start: int = 0) -> dict[str, bytes]:
    files = sorted(p for p in folder.iterdir() if p.is_file())[start : start + count]
    return {p.name: p.read_bytes() for p in files}


def collect_seeds(data_root: Path | None) -> dict[str, dict[str, bytes]]:
    """The unmutated cases: name -> {file name: bytes}."""
    seeds = _pydicom_seeds()
    sample = PROJECT_ROOT / "sample_data" / "normal" / "dicom"
    if (sample / "ct_myelogram").is_dir():
        seeds["phantom/ct_myelogram"] = _folder_seed(sample / "ct_myelogram", 4, start=30)
        seeds["phantom/dwi"] = _folder_seed(sample / "dwi", 14)
    if data_root is not None and data_root.is_dir():
        real = {
            "real/ge_tilted_ct": (data_root / "dcm_qa_ct" / "GE_tilted_head_ct", 3),
            "real/ge_classic_dwi": (data_root / "dwi_vendors" / "ge_classic" / "dicom", 4),
            "real/siemens_mosaic": (data_root / "dwi_vendors" / "siemens_mosaic_sag" / "dicom", 2),
            "real/siemens_xa_enhanced": (data_root / "dwi_vendors" / "siemens_xa60_enhanced" / "dicom", 2),
        }
        for name, (folder, count) in real.items():
            if folder.is_dir():
                seeds[name] = _folder_seed(folder, count)
    return {name: files for name, files in seeds.items() if files}


# -- mutations ------------------------------------------------------------------------------------------


def _hostile_value(rng: random.Random, keyword: str) -> Any:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    vr = dictionary_VR(tag) if tag is not None else "LO"
    if vr in ("US", "SS", "UL", "SL", "IS"):
        value = rng.choice(_NUMBERS)
        if vr in ("US", "UL"):
            value = abs(value) % (2**16 if vr == "US" else 2**32)
        elif vr == "SS":
            value = max(-(2**15), min(2**15 - 1, value))
        return value
    if vr in ("DS", "FD", "FL"):
        value = rng.choice(_FLOATS)
        multiplicity = {"PixelSpacing": 2, "ImagePositionPatient": 3, "ImageOrientationPatient": 6}.get(
            keyword
        )
        if vr in ("FD", "FL"):
            value = float(value)
            return [value] * 3 if keyword == "DiffusionGradientOrientation" else value
        return [value] * multiplicity if multiplicity else value
    return rng.choice(_TEXTS)


def _mutate_tag(rng: random.Random, files: dict[str, bytes], name: str) -> str:
    import io

    import pydicom

    keyword = rng.choice(_KEYWORDS)
    value = _hostile_value(rng, keyword)
    try:
        ds = pydicom.dcmread(io.BytesIO(files[name]), force=True)
        if rng.random() < 0.15 and keyword in ds:
            del ds[keyword]
            value = "<deleted>"
        else:
            setattr(ds, keyword, value)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=False)
        files[name] = out.getvalue()
    except Exception:  # noqa: BLE001 - a damaged seed may not re-encode at all: mutate its bytes instead
        return _mutate_bytes(rng, files, name)
    return f"tag {name} {keyword}={value!r}"


def _mutate_bytes(rng: random.Random, files: dict[str, bytes], name: str) -> str:
    data = bytearray(files[name])
    if not data:
        return f"bytes {name}: empty"
    # Headers are where parsers decide things: aim at the first 4 KiB most of the time.
    limit = len(data) if rng.random() < 0.25 else min(len(data), 4096)
    pos = rng.randrange(limit)
    choice = rng.random()
    if choice < 0.4:
        count = rng.randint(1, 8)
        for k in range(count):
            if pos + k < len(data):
                data[pos + k] = rng.randrange(256)
        what = f"flip {count} at {pos}"
    elif choice < 0.8:
        word = rng.choice(_WORDS)
        pos = min(pos, max(len(data) - 4, 0))
        data[pos : pos + 4] = word.to_bytes(4, "little")
        what = f"word {word:#x} at {pos}"
    else:
        length = rng.randrange(len(data))
        del data[length:]
        what = f"truncate at {length}"
    files[name] = bytes(data)
    return f"bytes {name} {what}"


def mutate(
    rng: random.Random, seeds: dict[str, dict[str, bytes]], seed_name: str
) -> tuple[dict[str, bytes], list[str]]:
    files = dict(seeds[seed_name])
    notes = []
    for _ in range(rng.randint(1, 4)):
        name = rng.choice(sorted(files))
        kind = rng.random()
        if kind < 0.45:
            notes.append(_mutate_tag(rng, files, name))
        elif kind < 0.85:
            notes.append(_mutate_bytes(rng, files, name))
        elif kind < 0.90 and len(files) > 1:
            del files[name]
            notes.append(f"delete {name}")
        elif kind < 0.95:
            files[f"dup_{name}"] = files[name]
            notes.append(f"duplicate {name}")
        else:
            other = rng.choice(sorted(seeds))
            other_name = rng.choice(sorted(seeds[other]))
            files[f"foreign_{other_name}"] = seeds[other][other_name]
            notes.append(f"foreign {other}/{other_name}")
    return files, notes


# -- the load under test (in a worker process) ------------------------------------------------------------


def _innermost_pipeline_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f"{os.sep}pipeline{os.sep}" in f.filename]
    frame = inside[-1] if inside else (frames[-1] if frames else None)
    if frame is None:
        return "?"
    relative = frame.filename.split(f"{os.sep}pipeline{os.sep}", 1)[-1]
    return f"pipeline/{relative}:{frame.lineno} {frame.name}"


def _garbage(volume: Any) -> str | None:
    import numpy as np

    if not np.isfinite(np.asarray(volume.affine_lps)).all():
        return "affine not finite"
    if abs(np.linalg.det(np.asarray(volume.affine_lps)[:3, :3])) < 1e-12:
        return "affine singular"
    array = np.asarray(volume.array)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        return "non-finite voxels"
    return None


def load_case(folder: str) -> tuple[str, str, str]:
    """Run the ingest calls of the commands on ``folder``; (outcome, root, detail)."""
    import numpy as np

    from pipeline.errors import CordotomyError
    from pipeline.ingest import discover, load_dwi, load_series, series_datasets

    def guarded(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except CordotomyError:
            return None

    try:
        infos = guarded(discover, folder) or []
        for info in infos:
            series = info.series_uid or (str(info.series_number) if info.series_number is not None else None)
            volume = guarded(load_series, folder, series)
            if volume is not None and (problem := _garbage(volume)):
                return "garbage", f"{problem} @ load_series", info.description
            guarded(series_datasets, folder, series)
            if info.role == "dwi":
                dwi = guarded(load_dwi, folder, series)
                if dwi is not None:
                    if problem := _garbage(dwi.volume):
                        return "garbage", f"{problem} @ load_dwi", info.description
                    bvals = np.asarray(dwi.bvals_s_mm2)
                    if not np.isfinite(bvals).all() or (bvals < 0).any() or not np.isfinite(dwi.bvecs).all():
                        return "garbage", "b-values/vectors not finite or negative @ load_dwi", ""
    except BaseException as exc:  # everything that is not ours is the finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "crash", f"{type(exc).__name__} @ {_innermost_pipeline_frame(exc)}", str(exc)[:300]
    return "ok", "", ""


def _worker(conn: Connection) -> None:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # native decoders print to fd 2; the parent reports findings itself
    while True:
        folder = conn.recv()
        if folder is None:
            return
        conn.send(load_case(folder))


class _Worker:
    def __init__(self, context: Any) -> None:
        self._context = context
        self.parent, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def run(self, folder: str, timeout_s: float) -> tuple[str, str, str] | None:
        """Outcome, or None on timeout (the worker is then killed)."""
        self.parent.send(folder)
        if self.parent.poll(timeout_s):
            try:
                return self.parent.recv()  # type: ignore[no-any-return]
            except EOFError:
                code = self.process.exitcode
                self.process.join(1)
                return "crash", f"worker died (exit {self.process.exitcode if code is None else code})", ""
        self.kill()
        return None

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.parent.send(None)
            except OSError:
                pass
            self.process.join(2)
        self.kill()


def run_fuzz(
    seconds: float,
    *,
    seed: int = 0,
    timeout_s: float = 2.0,
    data_root: Path | None = None,
    save: Path | None = None,
    progress: bool = False,
) -> Report:
    """Fuzz for ``seconds``; returns what was found. ``save`` keeps each finding's case folder."""
    import warnings

    warnings.simplefilter("ignore")  # pydicom narrates every hostile value it is asked to write
    seeds = collect_seeds(data_root)
    rng = random.Random(seed)
    names = sorted(seeds)
    context = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    scratch = Path(tempfile.mkdtemp(prefix="cordotomy-fuzz-"))
    # Warm up before forking: the ingest and the decoders import lazily, and a fresh worker paying
    # seconds of imports on its first case would look like a hang. Every seed must load cleanly.
    for seed_name in names:
        case = scratch / "warm"
        case.mkdir()
        for name, data in seeds[seed_name].items():
            (case / name).write_bytes(data)
        outcome = load_case(str(case))
        if outcome[0] != "ok":
            raise RuntimeError(f"seed {seed_name} does not load cleanly: {outcome}")
        shutil.rmtree(case)
    worker = _Worker(context)
    report = Report()
    start = time.monotonic()
    last_print = start
    try:
        while time.monotonic() - start < seconds:
            seed_name = rng.choice(names)
            files, notes = mutate(rng, seeds, seed_name)
            case = scratch / f"case-{report.iterations}"
            case.mkdir()
            for name, data in files.items():
                (case / name).write_bytes(data)
            if not worker.alive():
                worker = _Worker(context)
            outcome = worker.run(str(case), timeout_s)
            if outcome is None:  # retry once in a fresh worker: a busy machine is not a hang
                worker = _Worker(context)
                outcome = worker.run(str(case), timeout_s)
                if outcome is None:
                    worker = _Worker(context)
                    outcome = ("hang", f"over {timeout_s:g} s", "")
            kind, root, detail = outcome
            report.iterations += 1
            if kind != "ok":
                report.findings.append(Finding(kind, root, detail, seed_name, notes))
                if save is not None:
                    target = save / f"{len(report.findings):04d}-{kind}"
                    shutil.copytree(case, target / "case")
                    (target / "finding.txt").write_text(
                        f"{kind}: {root}\n{detail}\nseed {seed_name}\n" + "\n".join(notes)
                    )
            shutil.rmtree(case, ignore_errors=True)
            if progress and time.monotonic() - last_print > 60:
                last_print = time.monotonic()
                print(
                    f"  {last_print - start:6.0f} s: {report.iterations} iterations, "
                    f"{len(report.findings)} findings",
                    flush=True,
                )
    finally:
        worker.close()
        shutil.rmtree(scratch, ignore_errors=True)
    report.seconds = time.monotonic() - start
    return report


def format_report(report: Report) -> str:
    lines = [
        f"iterations: {report.iterations} in {report.seconds:.0f} s ({report.iterations / max(report.seconds, 1e-9):.1f}/s)",
        f"crashes: {report.count('crash')}",
        f"hangs: {report.count('hang')}",
        f"garbage accepted: {report.count('garbage')}",
        f"distinct roots: {len(report.roots())}",
    ]
    examples = {}
    for finding in report.findings:
        examples.setdefault(f"{finding.kind}: {finding.root}", finding)
    for root, count in report.roots().most_common():
        example = examples[root]
        lines.append(f"  {count:5d}  {root}")
        lines.append(f"         e.g. seed {example.seed}: {'; '.join(example.mutations)[:300]}")
        if example.detail:
            lines.append(f"         {example.detail[:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="how long to fuzz (default 15)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time-based)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per case before it is a hang")
    parser.add_argument("--save", type=Path, help="folder to keep the case of every finding in")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    root = Path(os.environ.get("CORDOTOMY_TEST_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    seeds = collect_seeds(root)
    print(
        f"fuzzing the ingest for {args.minutes:g} min, seed {seed}, {len(seeds)} seed cases: {', '.join(sorted(seeds))}"
    )
    report = run_fuzz(
        args.minutes * 60, seed=seed, timeout_s=args.timeout, data_root=root, save=args.save, progress=True
    )
    print(format_report(report))
    return 0 if not report.findings else 1


if __name__ == "__main__":
    sys.exit(main())
