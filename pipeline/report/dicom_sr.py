"""DICOM Structured Report of a case: a TID 1500 Measurement Report (highdicom, Comprehensive 3D SR).

Built from the contract documents (``plan.json``, ``dti.json``), not from the stages' objects, so the SR
always says what the JSON says. Content (PS3.16 TID 1500 → TID 1410/1411/1501):

* one planar-ROI group (TID 1410) per planned point, each a SCOORD3D POINT in the CT's frame of
  reference: dentate-ligament attachment, pial entry, target, skin entry;
* the planned path as a SCOORD3D POLYLINE (skin entry → pial entry → target) with the depths
  (skin→dura, skin→pia, pia→target) and the clearances (vertebral artery, bone) as TID 300 measurements;
* the cord at the planning level as a volumetric-ROI group (TID 1411) referencing segment 2 of the SEG;
* the DTI lesion and its contralateral homolog (TID 1501 groups) with FA, MD (the "ADC" of the readers),
  AD, RD and volume, and a group with the percent changes lesion vs homolog.

Planning concepts that have no standard code (skin-to-dura depth, clearances) use the private coding
scheme ``99CORDOTOMY``; standard concepts (FA DCM 110808, MD DCM 113202, AD DCM 113204, RD DCM 113203,
Volume SCT 118565006, Spinal cord SCT 2748008, Target DCM 112162) use DCM/SCT. Units are UCUM.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline import __version__
from pipeline.contract import Label
from pipeline.errors import InputDataError

logging.getLogger("highdicom").setLevel(logging.WARNING)

PRIVATE_SCHEME = "99CORDOTOMY"
SERIES_NUMBER = 9902
SERIES_DESCRIPTION = "Cordotomy plan and DTI measurements (cordotomy-pipeline)"

UNIT_MM = Code("mm", "UCUM", "millimeter")
UNIT_MM2 = Code("mm2", "UCUM", "square millimeter")
UNIT_MM3 = Code("mm3", "UCUM", "cubic millimeter")
UNIT_MM2_S = Code("mm2/s", "UCUM", "square millimeter per second")
UNIT_RATIO = Code("{ratio}", "UCUM", "ratio")
UNIT_PERCENT = Code("%", "UCUM", "percent")


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


# name in plan.json -> (concept, meaning shown to readers)
DEPTH_CONCEPTS: dict[str, Code] = {
    "skin_to_dura": _private("SKIN_TO_DURA", "Skin to dura depth along planned path"),
    "skin_to_pia": _private("SKIN_TO_PIA", "Skin to pia depth along planned path"),
    "pia_to_target": _private("PIA_TO_TARGET", "Pia to target depth along planned path"),
}
CLEARANCE_CONCEPTS: dict[str, Code] = {
    "vertebral_artery": _private("VA_CLEARANCE", "Vertebral artery clearance of planned path"),
    "bone": _private("BONE_CLEARANCE", "Bone clearance of planned path"),
}
POINT_CONCEPTS: dict[str, Code] = {
    "dentate_ligament_lps_mm": _private("DENTATE_ATTACHMENT", "Dentate ligament pial attachment"),
    "pial_entry_lps_mm": _private("PIAL_ENTRY", "Planned pial entry"),
    "target_lps_mm": codes.DCM.Target,
    "skin_entry_lps_mm": _private("SKIN_ENTRY", "Planned skin entry"),
}
PATH_CONCEPT = _private("PLANNED_PATH", "Planned cordotomy needle path")
DTI_CONCEPTS: dict[str, tuple[Code, Code]] = {
    "fa": (codes.DCM.FractionalAnisotropy, UNIT_RATIO),
    "md_mm2_s": (codes.DCM.MeanDiffusivity, UNIT_MM2_S),
    "ad_mm2_s": (codes.DCM.AxialDiffusivity, UNIT_MM2_S),
    "rd_mm2_s": (codes.DCM.RadialDiffusivity, UNIT_MM2_S),
    "volume_mm3": (codes.SCT.Volume, UNIT_MM3),
}
CHANGE_CONCEPTS: dict[str, Code] = {
    name: _private(f"{name.upper()}_CHANGE", f"{meaning} change lesion vs contralateral homolog")
    for name, meaning in (
        ("fa", "Fractional anisotropy"),
        ("md", "Mean diffusivity (ADC)"),
        ("ad", "Axial diffusivity"),
        ("rd", "Radial diffusivity"),
    )
}
CORD_CONCEPTS: dict[str, tuple[Code, Code]] = {
    "ap_mm": (_private("CORD_AP", "Cord anteroposterior diameter"), UNIT_MM),
    "transverse_mm": (_private("CORD_TRANSVERSE", "Cord transverse diameter"), UNIT_MM),
    "area_mm2": (_private("CORD_AREA", "Cord cross-sectional area"), UNIT_MM2),
}
HOMOLOG_FINDING = _private("CONTRALATERAL_HOMOLOG", "Contralateral homolog of lesion")
DTI_CHANGE_FINDING = _private("DTI_CHANGE", "DTI change lesion vs contralateral homolog")


def _laterality(side: str | None) -> Code | None:
    return {"left": codes.SCT.Left, "right": codes.SCT.Right}.get(side or "")


def _cord_site(side: str | None) -> list[hd.sr.FindingSite]:
    return [hd.sr.FindingSite(anatomic_location=codes.SCT.SpinalCord, laterality=_laterality(side))]


def _tracking(uid_root: str, label: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{uid_root}: {label}")


def _point(values: Sequence[float]) -> np.ndarray:
    return np.asarray([[float(v) for v in values]], dtype=np.float64)


def _plan_groups(
    plan: Mapping[str, Any], frame_of_reference_uid: str, algorithm: hd.sr.AlgorithmIdentification
) -> list[Any]:
    side = plan.get("cordotomy_side")
    groups: list[Any] = []
    for key, concept in POINT_CONCEPTS.items():
        if plan.get(key) is None:
            continue
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking("cordotomy plan", str(concept.meaning)),
                referenced_region=hd.sr.ImageRegion3D(
                    graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                    graphic_data=_point(plan[key]),
                    frame_of_reference_uid=frame_of_reference_uid,
                ),
                finding_type=concept,
                finding_sites=_cord_site(side),
                algorithm_id=algorithm,
            )
        )
    measurements = [
        hd.sr.Measurement(name=concept, value=float(plan["depths_mm"][name]), unit=UNIT_MM)
        for name, concept in DEPTH_CONCEPTS.items()
        if plan.get("depths_mm", {}).get(name) is not None
    ]
    measurements += [
        hd.sr.Measurement(name=concept, value=float(plan["clearances_mm"][name]), unit=UNIT_MM)
        for name, concept in CLEARANCE_CONCEPTS.items()
        if plan.get("clearances_mm", {}).get(name) is not None
    ]
    path = np.asarray(
        [plan[k] for k in ("skin_entry_lps_mm", "pial_entry_lps_mm", "target_lps_mm")], dtype=np.float64
    )
    groups.append(
        hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=_tracking("cordotomy plan", "planned path"),
            referenced_region=hd.sr.ImageRegion3D(
                graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
                graphic_data=path,
                frame_of_reference_uid=frame_of_reference_uid,
            ),
            finding_type=PATH_CONCEPT,
            finding_sites=_cord_site(side),
            algorithm_id=algorithm,
            measurements=measurements or None,
        )
    )
    return groups


def _cord_group(
    cord: Mapping[str, Any],
    seg: pydicom.Dataset,
    ct_series_uid: str,
    algorithm: hd.sr.AlgorithmIdentification,
) -> Any:
    measurements = [
        hd.sr.Measurement(name=concept, value=float(cord[key]), unit=unit)
        for key, (concept, unit) in CORD_CONCEPTS.items()
        if cord.get(key) is not None
    ]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("cordotomy plan", "spinal cord at C1-C2"),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=int(Label.CORD),
            source_series=hd.sr.SourceSeriesForSegmentation(ct_series_uid),
        ),
        finding_type=codes.SCT.SpinalCord,
        algorithm_id=algorithm,
        measurements=measurements or None,
    )


def _dti_groups(dti: Mapping[str, Any], algorithm: hd.sr.AlgorithmIdentification) -> list[Any]:
    side = dti.get("lesion_side")
    other = {"left": "right", "right": "left"}.get(side or "")
    groups: list[Any] = []
    for roi, finding, roi_side in (
        ("lesion", codes.SCT.Lesion, side),
        ("homolog", HOMOLOG_FINDING, other),
    ):
        values = dti[roi]
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking("cordotomy DTI", roi),
                finding_type=finding,
                finding_sites=_cord_site(roi_side),
                algorithm_id=algorithm,
                measurements=[
                    hd.sr.Measurement(name=concept, value=float(values[key]), unit=unit)
                    for key, (concept, unit) in DTI_CONCEPTS.items()
                    if values.get(key) is not None
                ],
            )
        )
    groups.append(
        hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=_tracking("cordotomy DTI", "change lesion vs homolog"),
            finding_type=DTI_CHANGE_FINDING,
            finding_sites=_cord_site(side),
            algorithm_id=algorithm,
            measurements=[
                hd.sr.Measurement(name=concept, value=float(dti["change_percent"][name]), unit=UNIT_PERCENT)
                for name, concept in CHANGE_CONCEPTS.items()
                if dti["change_percent"].get(name) is not None
            ],
        )
    )
    return groups


def build_measurement_report(
    *,
    plan: Mapping[str, Any] | None,
    dti: Mapping[str, Any] | None,
    ct_datasets: Sequence[pydicom.Dataset],
    dwi_datasets: Sequence[pydicom.Dataset] = (),
    seg: pydicom.Dataset | None = None,
) -> hd.sr.Comprehensive3DSR:
    """The SR document of one case (not yet written); ``ct_datasets`` give the frame of reference.

    Raises
    ------
    InputDataError
        No CT images to reference, or nothing to report (neither a plan nor DTI results).
    """
    evidence: list[pydicom.Dataset] = [*ct_datasets, *dwi_datasets]
    if not evidence:
        raise InputDataError("DICOM SR: no source DICOM images (CT or DWI) to reference")
    algorithm = hd.sr.AlgorithmIdentification(name="cordotomy-pipeline", version=__version__)
    groups: list[Any] = []
    if plan is not None:
        if not ct_datasets:
            raise InputDataError(
                "DICOM SR: a plan needs the CT series' frame of reference; no CT images given"
            )
        frame_uid = str(ct_datasets[0].FrameOfReferenceUID)
        groups += _plan_groups(plan, frame_uid, algorithm)
        if seg is not None and plan.get("cord"):
            groups.append(_cord_group(plan["cord"], seg, str(ct_datasets[0].SeriesInstanceUID), algorithm))
    if dti is not None:
        groups += _dti_groups(dti, algorithm)
    if not groups:
        raise InputDataError("DICOM SR: nothing to report (no plan and no DTI results)")
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="cordotomy-pipeline", model_name=__version__
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=[
            *([codes.cid100.CTUnspecifiedBodyRegion] if plan is not None else []),
            *([codes.cid100.MRIUnspecifiedBodyRegion] if dti is not None else []),
        ],
        imaging_measurements=groups,
        title=codes.cid7021.ImagingMeasurementReport,
    )
    if seg is not None:
        evidence.append(seg)
    document = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cordotomy-pipeline",
        is_complete=True,
    )
    document.SeriesDescription = SERIES_DESCRIPTION
    document.SoftwareVersions = __version__
    return document


def write_dicom_sr(path: str | Path, **kwargs: Any) -> Path:
    """Build (see :func:`build_measurement_report`) and write the SR to ``path``."""
    document = build_measurement_report(**kwargs)
    document.save_as(str(path), enforce_file_format=True)
    return Path(path)
