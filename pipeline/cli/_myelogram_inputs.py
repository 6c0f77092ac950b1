"""The inputs shared by ``segment`` and ``plan``: a CT myelogram, an optional vascular series, parameters."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli._args import existing_input, parameters_file

if TYPE_CHECKING:
    from pipeline.ingest import Study
    from pipeline.seeds import Seeds


def add_myelogram_inputs(parser: argparse.ArgumentParser, *, echoed_in: str) -> None:
    """INPUT, --out, --vascular, --vascular-modality and --parameters."""
    parser.add_argument(
        "input", help="DICOM folder (its only series, or the one whose role is ct_myelogram) or NIfTI file"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--vascular",
        metavar="PATH",
        help="CTA or 3D T2 MRI: NIfTI or DICOM folder (its only series, or the one whose role is vascular); "
        "without it the vertebral arteries are only estimated from the transverse foramina",
    )
    parser.add_argument(
        "--vascular-modality",
        choices=["auto", "cta", "t2"],
        default="auto",
        help="bright arteries (cta) or flow voids (t2); auto reads the DICOM modality",
    )
    parser.add_argument(
        "--parameters",
        type=Path,
        metavar="FILE.yaml",
        help=f"YAML file overriding reference parameters in seeds/ (echoed in {echoed_in})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def open_myelogram_inputs(args: argparse.Namespace) -> tuple[list[Path], Seeds, Study]:
    """Check the inputs and OUT (nothing written yet), load the parameters, scan the series once."""
    from pipeline.ingest import Role, Study
    from pipeline.outputs import check_output_directory
    from pipeline.seeds import load_seeds

    existing_input(args.input, "input")
    existing_input(args.vascular, "--vascular")
    parameters_file(args.parameters)
    inputs = [Path(p) for p in (args.input, args.vascular, args.parameters) if p is not None]
    check_output_directory(args.out, force=args.force, inputs=inputs)
    study = Study.from_inputs({Role.CT_MYELOGRAM: args.input, Role.VASCULAR: args.vascular})
    return inputs, load_seeds(args.parameters), study
