"""Which MRI contrast an image has: from its header (DICOM or NIfTI/BIDS sidecar), else from the image.

The cord search needs the polarity (CSF bright on T2, T2*, MT-weighted and a DWI b0; CSF dark on T1)
and reports the contrast it used and how it was chosen. Header evidence, in order:

1. words in the series description, sequence name or file name (``t2star``/``t2*``/``medic``/``merge``/
   ``me-gre`` -> T2*; ``mt``/``mton``/magnetisation-transfer scan option -> MT; ``t1``/``mprage``/``spgr``
   -> T1; ``t2``/``tse``/``fse``/``space``/``cube`` -> T2);
2. timing: a long echo (TE >= 60 ms) is T2-weighted; a gradient echo with TE 10-40 ms is T2*-weighted;
   a short TR (< 1000 ms) with a short TE (< 15 ms) is T1-weighted (spin-echo and gradient-echo
   weighting rules of thumb, e.g. McRobbie, *MRI from Picture to Proton*, ch. 7).

Without header evidence the polarity is measured on the image (:func:`pipeline.myelogram.cord`
compares the cord tubes found with CSF bright and with CSF dark).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.myelogram.contrast import Contrast

_WORDS: tuple[tuple[Contrast, re.Pattern[str]], ...] = (
    (
        Contrast.T2STAR,
        re.compile(r"t2\*|t2[-_ ]?star|t2s(?![a-z])|medic|merge|m[-_]?ffe|me[-_]?gre|swi(?![a-z])"),
    ),
    (Contrast.MT, re.compile(r"(?<![a-z])mt(?![a-z])|mt[-_]?on|mt1|mtr|magneti[sz]ation[-_ ]transfer")),
    (Contrast.T1, re.compile(r"t1|mprage|spgr|tfl(?![a-z])|flash")),
    (Contrast.T2, re.compile(r"t2|tse|fse|(?<![a-z])space(?![a-z])|cube|haste|b0|dwi")),
)


def header_hints(path: str | Path, datasets: Sequence[Any] | None = None) -> dict[str, object]:
    """MR acquisition attributes of an input: from its first DICOM header, or a NIfTI's header and sidecar.

    Only acquisition attributes are read (never patient data). Missing ones are left out.
    """
    hints: dict[str, object] = {}
    path = Path(path)
    if datasets:
        first = datasets[0]
        for key, attribute in (
            ("echo_time_ms", "EchoTime"),
            ("repetition_time_ms", "RepetitionTime"),
            ("flip_angle_deg", "FlipAngle"),
        ):
            value = first.get(attribute)
            if value not in (None, ""):
                hints[key] = float(value)
        for key, attribute in (
            ("scanning_sequence", "ScanningSequence"),
            ("scan_options", "ScanOptions"),
            ("sequence_name", "SequenceName"),
            ("description", "SeriesDescription"),
            ("protocol", "ProtocolName"),
        ):
            value = first.get(attribute)
            if value not in (None, ""):
                hints[key] = "\\".join(value) if isinstance(value, list | tuple) else str(value)
        return hints
    name = path.name
    hints["file_name"] = name
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else path.stem
    sidecar = path.with_name(stem + ".json")
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            meta = {}
        if isinstance(meta, dict):
            # BIDS stores times in seconds.
            for key, attribute, scale in (
                ("echo_time_ms", "EchoTime", 1000.0),
                ("repetition_time_ms", "RepetitionTime", 1000.0),
                ("flip_angle_deg", "FlipAngle", 1.0),
            ):
                if isinstance(meta.get(attribute), int | float):
                    hints[key] = float(meta[attribute]) * scale
            for key, attribute in (
                ("scanning_sequence", "ScanningSequence"),
                ("scan_options", "ScanOptions"),
                ("sequence_name", "SequenceName"),
                ("description", "SeriesDescription"),
                ("protocol", "ProtocolName"),
            ):
                value = meta.get(attribute)
                if isinstance(value, str | list):
                    hints[key] = "\\".join(value) if isinstance(value, list) else value
    try:
        import nibabel as nib
        from nibabel.filebasedimages import ImageFileError

        image = nib.load(path)
        descrip = image.header["descrip"] if isinstance(image, nib.Nifti1Image) else None
        text = bytes(descrip).split(b"\x00")[0].decode("ascii", "replace") if descrip is not None else ""
    except (OSError, ValueError, ImageFileError):  # an unreadable header is the loader's business
        text = ""
    match = re.search(r"TE=([0-9.]+)", text)
    if match and "echo_time_ms" not in hints:
        hints["echo_time_ms"] = float(match.group(1))
    match = re.search(r"TR=([0-9.]+)", text)
    if match and "repetition_time_ms" not in hints:
        hints["repetition_time_ms"] = float(match.group(1))
    return hints


def contrast_from_header(hints: Mapping[str, object]) -> tuple[Contrast, str] | None:
    """The contrast the header states or implies, with the evidence; None when it says nothing."""
    for key in ("description", "protocol", "sequence_name", "file_name"):
        text = str(hints.get(key, "")).lower()
        if not text:
            continue
        if key == "file_name":
            text = re.sub(r"\.nii(\.gz)?$", "", text)
        for contrast, pattern in _WORDS:
            if pattern.search(text):
                return contrast, f"header: {key.replace('_', ' ')} {text!r}"
    options = str(hints.get("scan_options", "")).upper()
    if "MT" in options.split("\\"):
        return Contrast.MT, "header: scan options include MT"
    te = hints.get("echo_time_ms")
    tr = hints.get("repetition_time_ms")
    gradient_echo = "GR" in str(hints.get("scanning_sequence", "")).upper()
    if isinstance(te, float):
        if te >= 60.0:
            return Contrast.T2, f"header: echo time {te:g} ms (long TE: T2-weighted)"
        if gradient_echo and 10.0 <= te <= 40.0:
            return Contrast.T2STAR, f"header: gradient echo, TE {te:g} ms (T2*-weighted)"
        if isinstance(tr, float) and tr < 1000.0 and te < 15.0:
            return Contrast.T1, f"header: TR {tr:g} ms, TE {te:g} ms (short TR and TE: T1-weighted)"
    return None


def contrast_from_modality(modality: str, minimum: float) -> str | None:
    """``"ct-myelogram"`` for a CT (DICOM modality CT, or CT numbers below -500 HU), else None."""
    modality = modality.upper()
    if modality == "CT" or (modality != "MR" and minimum < -500.0):
        return "ct-myelogram"
    return None
