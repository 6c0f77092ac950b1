"""``cordotomy inspect`` and ``cordotomy convert``: the ingest commands."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.cli._args import existing_input

log = logging.getLogger("cordotomy")


def _add_inspect(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="list the DICOM studies/series under a folder, with roles, geometry and problems",
        description="List every DICOM series under DIR (any file names, DICOMDIR not needed): modality, "
        "role guess (ct_myelogram, vascular, dwi, other), size, spacing, plane and any problem found "
        "(missing or duplicate slices, gantry tilt, uneven spacing, unreadable files).",
    )
    parser.add_argument("dir", type=Path, help="folder (searched recursively) or single file")
    parser.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")
    parser.set_defaults(run=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from pipeline.ingest import Study, format_table

    existing_input(args.dir, "input")
    study = Study.scan(args.dir)
    if args.json:
        print(json.dumps(study.as_dict(), indent=2))
        return 0
    print(format_table([s.info for s in study.series if s.info is not None]))
    print("roles:")
    print(study.listing())
    return 0


def _add_convert(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert one DICOM series to NIfTI (+ .bval/.bvec for diffusion)",
        description="Convert one series to NIfTI (RAS, float32 real-world values, HU for CT). Gantry tilt "
        "and uneven slice spacing are resampled onto a regular grid unless --no-resample. A diffusion "
        "series also writes OUT.bval and OUT.bvec (FSL convention, as dcm2niix).",
    )
    parser.add_argument("dir", type=Path, help="DICOM folder (searched recursively) or single file")
    parser.add_argument("out", type=Path, help="output file, .nii or .nii.gz")
    parser.add_argument("--series", help="SeriesNumber or SeriesInstanceUID (needed if DIR holds several)")
    parser.add_argument(
        "--no-resample",
        dest="resample",
        action="store_false",
        help="refuse (exit 3) a gantry tilt or uneven slice spacing instead of resampling",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    parser.set_defaults(run=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from pipeline.ingest import convert

    existing_input(args.dir, "input")
    written = convert(args.dir, args.out, args.series, resample=args.resample, force=args.force)
    for path in written:
        log.info("wrote %s", path)
    return 0


ADDERS = [_add_inspect, _add_convert]
