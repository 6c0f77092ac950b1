"""The myelogram stage as one call: cord, CSF, C1/C2, frame, dentate ligaments, vertebral arteries.

:func:`analyse_myelogram` is what ``cordotomy segment`` runs and what the planning stage consumes. Its
result holds the label map of the output contract (DESIGN.md §4) on the input grid and a JSON-ready
summary (``myelogram.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pipeline.contract import Label
from pipeline.errors import AnalysisError
from pipeline.myelogram.bone import Vertebrae, VertebraeNotSeparated, segment_vertebrae
from pipeline.myelogram.contrast import Contrast, check_modality, parse_contrast
from pipeline.myelogram.cord import CordSegmentation, describe_volume, segment_cord
from pipeline.myelogram.ct_sac import keep_sac_off_bone, trim_sac_lobes
from pipeline.myelogram.dentate import DentateAttachment, DentateLigaments, find_dentate_ligaments
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.myelogram.planning_frame import cord_frame, interlaminar_windows, planning_frame
from pipeline.myelogram.registration import RigidRegistration, register_rigid
from pipeline.myelogram.vessels import ArterySource, VertebralArtery, estimate_arteries, segment_arteries
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Volume

SCHEMA = "cordotomy.myelogram/1"

LABEL_NAMES = {int(label): label.description for label in Label}
# Dentate ligaments are analysed on the slices within this distance of the planning level (C1-C2).
DENTATE_HALF_RANGE_MM = 12.0


@dataclass(frozen=True)
class MyelogramResult:
    """Everything the myelogram stage found (LPS mm throughout).

    ``vertebrae`` is None on an MRI and on a CT myelogram whose C1 and C2 could not be separated although
    C1-C2 is in view; ``warnings`` then names what was not found (and is written to ``myelogram.json``).
    """

    labels: Volume
    cord: CordSegmentation
    frame: AnatomicalFrame
    dentate: DentateLigaments
    vertebrae: Vertebrae | None
    arteries: dict[str, VertebralArtery]
    artery_source: ArterySource
    registration: RigidRegistration | None
    windows: dict[str, dict[str, object]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    parameters: dict[str, dict[str, object]] = field(default_factory=dict)  # every seed used, with source

    def require_vertebrae(self) -> Vertebrae:
        """C1 and C2, or AnalysisError (exit 4) naming what was not found: planning needs both, and a cord
        found at the usual contrast levels."""
        if self.vertebrae is None or self.cord.weak_rings:
            reason = "; ".join(self.warnings) or f"C1/C2 are not segmented on a {self.cord.contrast} image"
            raise AnalysisError(f"cannot plan at C1-C2: {reason}")
        return self.vertebrae

    def dentate_at_planning_level(self, side: str) -> DentateAttachment | None:
        return self.dentate.at_level(side, self.frame.origin_lps_mm, self.frame.superior_lps)

    def to_json(self) -> dict[str, object]:
        return myelogram_json(self)


def analyse_myelogram(
    image: Volume,
    *,
    contrast: str = "ct-myelogram",
    vascular: Volume | None = None,
    vascular_modality: str = "cta",
    seeds: Seeds | None = None,
    header_hints: Mapping[str, object] | None = None,
) -> MyelogramResult:
    """Run the myelogram stage on a CT myelogram (or a T2/T1 MRI: cord, CSF and dentate only).

    Parameters
    ----------
    image : Volume
        The CT myelogram in HU (or an MRI, with ``contrast="t2"``/``"t1"``).
    contrast : str
        See :func:`pipeline.myelogram.cord.segment_cord`.
    vascular : Volume, optional
        CTA or 3D T2 MRI of the same patient; registered rigidly to ``image``.
    vascular_modality : {"cta", "t2"}
    seeds : Seeds, optional
        Tissue levels and segmentation parameters; defaults to :func:`pipeline.seeds.load_seeds`.
    header_hints : mapping, optional
        MR acquisition attributes for ``contrast="auto"`` (:func:`pipeline.myelogram.mri_contrast.header_hints`).

    Raises
    ------
    InputDataError
        The image does not fit ``contrast`` (a CT given as an MRI, an MRI as a CT myelogram).
    AnalysisError
        No contrast in the thecal sac, cord not found, C1-C2 not in the field of view.
    """
    seeds = seeds if seeds is not None else load_seeds()
    description = describe_volume(image)
    if contrast != "auto":
        check_modality(image, parse_contrast(contrast), description)
    # "auto" resolves there (header hints, modality, file name, then the image).
    cord = segment_cord(image, contrast=contrast, header_hints=header_hints, seeds=seeds)
    mode = parse_contrast(cord.contrast)
    if mode is Contrast.CT_MYELOGRAM:
        cord = keep_sac_off_bone(image, trim_sac_lobes(image, cord, seeds))
    vertebrae: Vertebrae | None = None
    unseparated_bone: np.ndarray | None = None
    warnings: list[str] = []
    if cord.weak_rings:
        warnings.append(
            f"cord of {description} found only on dim or open CSF rings (dilute contrast, or pixels too "
            "coarse for the thin CSF layers): the cord and sac outlines, and any C1 and C2 found around them, "
            "are approximate and not used for planning"
        )
    if mode is Contrast.CT_MYELOGRAM:
        try:
            vertebrae = segment_vertebrae(image, cord, seeds=seeds, description=description)
        except VertebraeNotSeparated as exc:
            # C1-C2 is in view but the vertebrae could not be told apart: keep the sac and cord, say so.
            warnings.append(str(exc))
            unseparated_bone = exc.bone_mask
        except AnalysisError as exc:
            if not cord.weak_rings:
                raise
            # A cord found on weak rings may be a wrong structure, and the C2 search runs around it: say so
            # rather than claim C1-C2 is out of view.
            raise AnalysisError(
                f"cord not found reliably in {description}: the CSF rings are too dilute or blurred (found only "
                f"on dim or open rings), and the vertebrae searched around it were not found ({exc})"
            ) from exc
    frame = planning_frame(cord, vertebrae, image.affine_lps) if vertebrae is not None else cord_frame(cord)
    dentate = find_dentate_ligaments(
        image,
        cord,
        frame,
        superior_limit_mm=DENTATE_HALF_RANGE_MM,
        inferior_limit_mm=-DENTATE_HALF_RANGE_MM,
        seeds=seeds,
    )

    arteries: dict[str, VertebralArtery] = {}
    registration: RigidRegistration | None = None
    source = ArterySource.NONE
    # The arteries on a vascular series need the CT's bone, not C1 and C2 told apart.
    bone = vertebrae.bone_mask if vertebrae is not None else unseparated_bone
    if vascular is not None and mode is Contrast.CT_MYELOGRAM and bone is not None:
        registration = register_rigid(image, vascular, centre_lps_mm=frame.origin_lps_mm)
        arteries = segment_arteries(
            registration.resampled,
            modality=vascular_modality,
            frame=frame,
            exclude=bone,
            ct_hu=np.asarray(image.array),
            seeds=seeds,
            field_of_view=registration.field_of_view,
            sac=cord.csf_mask | cord.cord_mask,
        )
        source = ArterySource.VASCULAR_SERIES
    elif vertebrae is not None:
        arteries = estimate_arteries(
            vertebrae.foramina_lps_mm,
            vertebrae.c1_mask,
            image,
            frame,
            radius_mm=seeds.number("anatomy.vertebral_artery.diameter_mm") / 2.0,
        )
        source = ArterySource.FORAMINA_ESTIMATE if arteries else ArterySource.NONE

    labels = _label_map(image, cord, vertebrae, arteries, dentate, unseparated_bone)
    windows = interlaminar_windows(vertebrae, frame, image.affine_lps) if vertebrae is not None else {}
    return MyelogramResult(
        labels=labels,
        cord=cord,
        frame=frame,
        dentate=dentate,
        vertebrae=vertebrae,
        arteries=arteries,
        artery_source=source,
        registration=registration,
        windows=windows,
        warnings=tuple(warnings),
        parameters=seeds.as_dict(),
    )


def _label_map(
    image: Volume,
    cord: CordSegmentation,
    vertebrae: Vertebrae | None,
    arteries: dict[str, VertebralArtery],
    dentate: DentateLigaments,
    unseparated_bone: np.ndarray | None = None,
) -> Volume:
    labels = np.zeros(image.array.shape[:3], dtype=np.uint8)
    if unseparated_bone is not None:
        labels[unseparated_bone] = Label.OTHER_BONE
    if vertebrae is not None:
        labels[vertebrae.other_bone_mask] = Label.OTHER_BONE
        labels[vertebrae.c2_mask] = Label.C2
        labels[vertebrae.c1_mask] = Label.C1
    labels[cord.csf_mask] = Label.CSF
    labels[cord.cord_mask] = Label.CORD
    for side, value in (("left", Label.LEFT_VERTEBRAL_ARTERY), ("right", Label.RIGHT_VERTEBRAL_ARTERY)):
        artery = arteries.get(side)
        if artery is not None and artery.mask is not None:
            # The intradural V4 runs through the CSF beside the medulla: a lumen seen on the vascular
            # series wins over the CT's CSF and cord (a flow void or enhancing lumen is not cord), not bone.
            labels[artery.mask & np.isin(labels, (0, Label.CSF, Label.CORD))] = value
    # Dentate ligament: the line from pia to dura on each analysed slice, one voxel wide.
    for attachment in (*dentate.left, *dentate.right):
        length = float(np.linalg.norm(attachment.dural_lps_mm - attachment.pial_lps_mm))
        steps = max(2, int(np.ceil(length / (0.5 * float(min(image.spacing_mm))))))
        t = np.linspace(0.0, 1.0, steps)[:, None]
        points = attachment.pial_lps_mm + t * (attachment.dural_lps_mm - attachment.pial_lps_mm)
        index = np.rint(image.lps_to_index(points)).astype(int)
        inside = np.all((index >= 0) & (index < np.asarray(labels.shape)), axis=1)
        index = index[inside]
        target = labels[tuple(index.T)]
        keep = target == Label.CSF
        labels[tuple(index[keep].T)] = Label.DENTATE_LIGAMENT
    return image.with_array(labels)


def _vector(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]


def _cord_dimensions(result: MyelogramResult) -> dict[str, object]:
    """Cord AP and transverse diameters, area and centroid on the planning level."""
    frame = result.frame
    sections = result.cord.cross_sections
    heights = np.array([np.dot(s.center_lps_mm - frame.origin_lps_mm, frame.superior_lps) for s in sections])
    nearest = sections[int(np.argmin(np.abs(heights)))]
    local = frame.to_frame(nearest.cord_outline_lps_mm)
    return {
        "ap_mm": round(float(np.ptp(local[:, 1])), 3),
        "transverse_mm": round(float(np.ptp(local[:, 0])), 3),
        "area_mm2": round(float(nearest.area_mm2), 3),
        "centroid_lps_mm": _vector(nearest.center_lps_mm),
        "note": "measured on the image slice nearest the planning level (oblique if the head is tilted)",
    }


def myelogram_json(result: MyelogramResult) -> dict[str, object]:
    """JSON-ready summary of the stage (written as ``myelogram.json``)."""
    frame = result.frame
    dentate: dict[str, object] = {}
    for side in ("left", "right"):
        at_level = result.dentate_at_planning_level(side)
        dentate[side] = {
            "planning_level": at_level.to_json() if at_level is not None else None,
            "slices": [a.to_json() for a in result.dentate.side(side)],
        }
    vertebrae: dict[str, object] | None = None
    if result.vertebrae is not None:
        v = result.vertebrae
        vertebrae = {
            "dens_tip_lps_mm": _vector(v.dens_tip_lps_mm),
            "c1_posterior_arch_inferior_lps_mm": _vector(v.c1_arch_inferior_lps_mm),
            "c1_posterior_arch_superior_lps_mm": _vector(v.c1_arch_superior_lps_mm),
            "c2_lamina_superior_lps_mm": _vector(v.c2_lamina_superior_lps_mm),
            "interlaminar_height_mm": round(
                float(np.dot(v.c1_arch_inferior_lps_mm - v.c2_lamina_superior_lps_mm, frame.superior_lps)), 3
            ),
            "interlaminar_window": result.windows,
            "transverse_foramina_lps_mm": {
                side: {name: (_vector(p) if p is not None else None) for name, p in names.items()}
                for side, names in v.foramina_lps_mm.items()
            },
        }
    registration = None
    if result.registration is not None:
        registration = {
            "method": "SimpleITK rigid (Euler 3D), Mattes mutual information, 3-level pyramid",
            "mattes_mutual_information": round(result.registration.mutual_information, 5),
            "iterations": result.registration.iterations,
            "stop_condition": result.registration.stop_condition,
            "vascular_to_ct_lps": [_vector(row) for row in result.registration.vascular_to_ct_lps],
        }
    arteries = {
        side: {
            "centerline_lps_mm": [_vector(p) for p in artery.centerline_lps_mm],
            "radius_mm": round(artery.radius_mm, 3),
            "estimate": result.artery_source is not ArterySource.VASCULAR_SERIES,
        }
        for side, artery in result.arteries.items()
    }
    return {
        "schema": SCHEMA,
        "contrast": result.cord.contrast,
        "warnings": list(result.warnings),
        "parameters": result.parameters,
        "contrast_source": result.cord.contrast_source,
        "labels": {str(k): v for k, v in LABEL_NAMES.items()},
        "frame": frame.to_json(),
        "level": {
            "name": "C1-C2" if result.vertebrae is not None else "cord midpoint (no C1/C2 on this image)",
            "slice_lps_mm": _vector(frame.origin_lps_mm),
            "normal_lps": _vector(frame.superior_lps),
        },
        "cord": _cord_dimensions(result),
        "cord_intensity": round(result.cord.cord_level, 3),
        "csf_intensity": round(result.cord.csf_level, 3),
        "dentate_ligament": dentate,
        "vertebrae": vertebrae,
        "vertebral_artery": {
            "source": result.artery_source.value,
            "arteries": arteries,
            "registration": registration,
        },
    }
