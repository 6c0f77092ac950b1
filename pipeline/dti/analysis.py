"""The DTI stage as one function: fit, cord, lesion, homolog, metrics.

``analyse_dwi`` is the stage's library entry point (the ``cordotomy dti`` command only loads the inputs,
calls it and writes what it returns). Every clinical number it uses comes from ``seeds/`` and is echoed
in :attr:`DtiAnalysis.parameters` with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.dti.fit import MIN_POSITIVE_SIGNAL, fit_tensors
from pipeline.dti.gradients import gradient_table
from pipeline.dti.homolog import CordMidline, cord_fraction_from_b0, cord_midline, homolog_mask, side_of
from pipeline.dti.lesion import MIN_LESION_VOXELS, SMOOTHING_SIGMA_PIXELS, detect_lesion
from pipeline.dti.maps import TensorMaps
from pipeline.dti.motion import MOTION_SEEDS, MotionCorrection, MotionLimits, correct_motion
from pipeline.dti.roi import METRICS, RoiMetrics, change_percent, lesion_cord_fraction_percent, roi_metrics
from pipeline.dti.share import REACH_PIXELS, LesionShare, lesion_cord_share
from pipeline.errors import AnalysisError, InputDataError, UsageError
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Volume

SIDES = ("left", "right")
REFERENCE_CHANGE_KEY = "diffusion.reference_change_percent"
CORD_FRACTION_KEY = "diffusion.lesion_cord_fraction_min_percent.dti"


@dataclass(frozen=True)
class DtiAnalysis:
    """Everything the DTI stage found, on the DWI grid.

    Attributes
    ----------
    maps : TensorMaps
        FA, MD, AD, RD (+ eigenvalues, principal eigenvector, colour FA).
    grid : Volume
        3-D mean b0 with the DWI's affine: the grid of every mask and map.
    cord_mask, lesion_mask, homolog_mask : (X, Y, Z) bool ndarrays
    lesion, homolog : RoiMetrics
    change_percent : dict
        100·(lesion − homolog)/homolog for fa, md, ad, rd.
    reference_change_percent : dict
        The primary reference's changes (Shepherd et al. AJNR 2017) from seeds/.
    lesion_source : str
        ``"mask"`` or ``"detected"``.
    cord_source : str
        ``"mask"`` or ``"segmented"`` (on the mean b0).
    lesion_side : str
    lesion_cord_fraction_percent : float
        The lesion's share of the cord cross-section on its slices, partial volume included, compared
        with the published threshold; one definition for a given mask and a detected lesion
        (:mod:`pipeline.dti.share`).
    lesion_roi_cord_fraction_percent : float
        Share of the cord's voxels that the lesion ROI holds, on its slices (for information: it
        depends on how the ROI was drawn).
    lesion_cord_fraction_method : str
        ``"signal_partial_volume"`` (the definition) or ``"roi_voxels"`` (no MD contrast).
    share : LesionShare
        Details of the share (core size, reference diffusivities).
    parameters : dict
        Every parameter used, with value and source.
    midline : CordMidline
    motion : MotionCorrection or None
        Transforms found when motion correction was asked for.
    bvals_s_mm2, bvecs : ndarrays
        The encoding the tensors were fitted with (b-vectors turned when motion-corrected).
    """

    maps: TensorMaps
    grid: Volume
    cord_mask: np.ndarray
    lesion_mask: np.ndarray
    homolog_mask: np.ndarray
    lesion: RoiMetrics
    homolog: RoiMetrics
    change_percent: dict[str, float]
    reference_change_percent: dict[str, float]
    lesion_source: str
    cord_source: str
    lesion_side: str
    lesion_cord_fraction_percent: float
    lesion_roi_cord_fraction_percent: float
    lesion_cord_fraction_method: str
    parameters: dict[str, Any]
    midline: CordMidline
    motion: MotionCorrection | None
    bvals_s_mm2: np.ndarray
    bvecs: np.ndarray
    share: LesionShare
    detection: dict[str, float] = field(default_factory=dict)

    @property
    def cord_fraction_threshold_percent(self) -> float:
        return float(self.parameters["lesion_cord_fraction_min_percent"]["value"])

    @property
    def meets_cord_fraction_threshold(self) -> bool:
        """True when the lesion covers at least the share of the cord linked with pain relief on DTI."""
        return self.lesion_cord_fraction_percent >= self.cord_fraction_threshold_percent


def _segment_cord_on_b0(mean_b0: Volume) -> np.ndarray:
    """Cord on the mean b0 (T2-weighted: CSF bright, cord dark) with the myelogram stage's segmenter."""
    from pipeline.myelogram import segment_cord

    return np.asarray(segment_cord(mean_b0, contrast="t2").cord_mask, dtype=bool)


def _parameter(seeds: Seeds, key: str) -> dict[str, Any]:
    seed = seeds[key]
    return {"value": seed.value, "source": seed.source, "estimate": bool(seed.estimate), "unit": seed.unit}


def analyse_dwi(
    dwi: Volume,
    bvals_s_mm2: np.ndarray,
    bvecs: np.ndarray,
    *,
    cord_mask: np.ndarray | None = None,
    lesion_mask: np.ndarray | None = None,
    lesion_side: str | None = None,
    fit_method: str = "WLS",
    motion_correction: bool = False,
    detection_threshold_percent: float | None = None,
    noise_sigma: float | None = None,
    seeds: Seeds | None = None,
) -> DtiAnalysis:
    """Fit the tensors of a post-cordotomy DWI and compare the lesion with its contralateral homolog.

    Parameters
    ----------
    dwi : Volume
        4-D diffusion series (volumes last) with its LPS affine.
    bvals_s_mm2 : (N,) ndarray
    bvecs : (N, 3) ndarray
        FSL-convention directions for ``dwi``'s voxel axes (as :func:`pipeline.ingest.load_dwi` gives).
    cord_mask : (X, Y, Z) bool ndarray, optional
        Cord on the DWI grid; segmented on the mean b0 when omitted.
    lesion_mask : (X, Y, Z) bool ndarray, optional
        Lesion on the DWI grid; detected as the focal reduced-MD region when omitted.
    lesion_side : {"left", "right"}, optional
        Side to search (detection) or to check (given mask); either side when omitted.
    fit_method : str
        ``WLS`` (default), ``OLS``, ``NLLS`` or ``RESTORE`` (see :func:`pipeline.dti.fit_tensors`).
    motion_correction : bool
        Register each volume rigidly to the mean b0 (SimpleITK, mutual information) and turn its
        gradient direction with the rotation found (:func:`pipeline.dti.correct_motion`).
    detection_threshold_percent : float, optional
        MD asymmetry threshold of the detection and of the lesion's reduced-MD core (its share of the
        cord); default the reference MD change from seeds/.
    noise_sigma : float, optional
        Noise standard deviation for RESTORE; estimated from the series when omitted.
    seeds : Seeds, optional
        Reference parameters (defaults to :func:`pipeline.seeds.load_seeds`).

    Raises
    ------
    InputDataError
        Bad gradients or volume counts, masks on the wrong grid.
    UsageError
        Unknown side or fit method.
    AnalysisError
        Cord not found, no lesion found, lesion on the other side than asked, empty homolog.
    """
    if lesion_side is not None and lesion_side not in SIDES:
        raise UsageError(f"lesion side must be 'left' or 'right', got {lesion_side!r}")
    if dwi.array.ndim != 4:
        raise InputDataError(f"the DWI must be 4-D (volumes last), got shape {dwi.array.shape}")
    seeds = seeds if seeds is not None else load_seeds()
    description = dwi.provenance.label
    table = gradient_table(bvals_s_mm2, bvecs, n_volumes=dwi.array.shape[3], source=description)
    data = np.asarray(dwi.array)
    if not np.all(np.isfinite(data)):
        raise InputDataError(f"{description}: the diffusion images contain NaN or infinite values")
    shape = data.shape[:3]
    for name, mask in (("cord mask", cord_mask), ("lesion mask", lesion_mask)):
        if mask is not None and np.asarray(mask).shape != shape:
            raise InputDataError(f"{name} shape {np.asarray(mask).shape} does not match the DWI grid {shape}")

    bvals, vectors = table.bvals_s_mm2, table.bvecs
    motion = None
    if motion_correction:
        limits = MotionLimits.from_seeds(seeds)
        motion = correct_motion(dwi, bvals, vectors, table.b0_mask, limits=limits)
        data = np.asarray(motion.volume.array)
        vectors = motion.bvecs
    mean_b0 = data[..., table.b0_mask].astype(np.float64).mean(axis=-1)
    grid = Volume(mean_b0, dwi.affine_lps, dwi.provenance)

    if cord_mask is None:
        cord = _segment_cord_on_b0(grid)
        cord_source = "segmented"
    else:
        cord = np.asarray(cord_mask, dtype=bool)
        cord_source = "mask"
    if not cord.any():
        raise AnalysisError(f"{description}: the cord mask is empty")

    maps = fit_tensors(data, bvals, vectors, method=fit_method, sigma=noise_sigma)
    midline = cord_midline(cord, dwi.affine_lps, cord_fraction=cord_fraction_from_b0(mean_b0, cord))

    reference = {m: float(seeds.number(f"{REFERENCE_CHANGE_KEY}.{m}")) for m in METRICS}
    threshold = reference["md"] if detection_threshold_percent is None else float(detection_threshold_percent)
    parameters: dict[str, Any] = {
        "fit_method": {"value": maps.method, "source": "user choice (default WLS, as dipy TensorModel)"},
        "min_signal": {
            "value": MIN_POSITIVE_SIGNAL,
            "source": "dipy MIN_POSITIVE_SIGNAL (signal floor before the logarithm)",
        },
        "reference_change_percent": {m: _parameter(seeds, f"{REFERENCE_CHANGE_KEY}.{m}") for m in METRICS},
        **(
            {
                "motion_max_rotation_deg": _parameter(seeds, f"{MOTION_SEEDS}.max_rotation_deg"),
                "motion_max_translation_mm": _parameter(seeds, f"{MOTION_SEEDS}.max_translation_mm"),
            }
            if motion_correction
            else {}
        ),
        **(
            {
                "restore_noise_sigma": {
                    "value": maps.noise_sigma,
                    "source": "user choice"
                    if noise_sigma is not None
                    else "estimated from the WLS residuals of the series (pipeline.dti.fit.estimate_noise_sigma)",
                    "unit": "signal units",
                }
            }
            if maps.method == "RESTORE"
            else {}
        ),
        "lesion_cord_fraction_min_percent": _parameter(seeds, CORD_FRACTION_KEY),
        "b_values_s_mm2": sorted({round(float(b), 1) for b in bvals}),
        "directions": table.n_directions,
    }
    parameters["lesion_md_threshold_percent"] = {
        "value": threshold,
        "source": (
            "reference MD change, " + seeds[f"{REFERENCE_CHANGE_KEY}.md"].source
            if detection_threshold_percent is None
            else "user choice"
        ),
        "use": "lesion detection and the reduced-MD core of the lesion's share of the cord",
    }
    parameters["lesion_share_reach_pixels"] = {
        "value": REACH_PIXELS,
        "source": "method constant (pipeline.dti.share): partial-volume lesion is counted this far around the core",
    }
    detection: dict[str, float] = {}
    if lesion_mask is None:
        found = detect_lesion(maps.md, cord, midline, threshold_percent=threshold, side=lesion_side)
        lesion = found.mask
        side = found.side
        lesion_source = "detected"
        detection = {"mean_md_asymmetry_percent": found.mean_asymmetry_percent}
        parameters["detection_smoothing_sigma_pixels"] = {
            "value": SMOOTHING_SIGMA_PIXELS,
            "source": "method constant (pipeline.dti.lesion): damps voxel noise, keeps a lesion a few pixels wide",
        }
        parameters["detection_min_voxels"] = {
            "value": MIN_LESION_VOXELS,
            "source": "method constant (pipeline.dti.lesion): one or two voxels cannot be told from noise",
        }
    else:
        lesion = np.asarray(lesion_mask, dtype=bool)
        side = side_of(lesion, midline)
        lesion_source = "mask"
        if lesion_side is not None and side != lesion_side:
            raise AnalysisError(
                f"the lesion mask lies on the {side} side of the cord midline, not the {lesion_side} side given"
            )
    homolog = homolog_mask(lesion, cord, midline)
    if not homolog.any():
        raise AnalysisError(
            "the lesion's mirror image across the cord midline holds no cord voxel (empty homolog)"
        )
    voxel_mm3 = float(abs(np.linalg.det(dwi.affine_lps[:3, :3])))
    lesion_metrics = roi_metrics(maps, lesion, voxel_mm3, name="lesion")
    homolog_metrics = roi_metrics(maps, homolog, voxel_mm3, name="homolog")
    roi_fraction = lesion_cord_fraction_percent(lesion, cord)
    share = lesion_cord_share(
        data, maps.md, lesion, cord, midline, dwi.affine_lps, threshold_percent=threshold
    )
    return DtiAnalysis(
        maps=maps,
        grid=grid,
        cord_mask=cord,
        lesion_mask=lesion,
        homolog_mask=homolog,
        lesion=lesion_metrics,
        homolog=homolog_metrics,
        change_percent=change_percent(lesion_metrics, homolog_metrics),
        reference_change_percent=reference,
        lesion_source=lesion_source,
        cord_source=cord_source,
        lesion_side=side,
        lesion_cord_fraction_percent=share.percent,
        lesion_roi_cord_fraction_percent=roi_fraction,
        lesion_cord_fraction_method=share.method,
        parameters=parameters,
        midline=midline,
        motion=motion,
        bvals_s_mm2=np.asarray(bvals),
        bvecs=np.asarray(vectors),
        share=share,
        detection=detection,
    )
