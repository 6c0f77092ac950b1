"""DTI stage: tensor fit, maps, lesion ROI and its mirrored contralateral homolog.

Public face (DESIGN.md §4): :func:`fit_tensors` (vectorised WLS/OLS identical to dipy's ``TensorModel``;
NLLS/RESTORE through dipy) returning :class:`TensorMaps`, and :func:`analyse_dwi`, the whole stage
(cord, lesion given or detected, homolog mirrored across the cord's own midline, metrics) returning
:class:`DtiAnalysis`.
"""

from pipeline.dti.analysis import SIDES, DtiAnalysis, analyse_dwi
from pipeline.dti.fit import FIT_METHODS, fit_tensors
from pipeline.dti.gradients import GradientTable, gradient_table
from pipeline.dti.homolog import CordMidline, cord_midline, homolog_mask, mirror_mask
from pipeline.dti.lesion import LesionDetection, detect_lesion
from pipeline.dti.maps import TensorMaps
from pipeline.dti.masks import load_mask
from pipeline.dti.motion import MotionCorrection, correct_motion, rotate_bvecs
from pipeline.dti.roi import RoiMetrics

__all__ = [
    "FIT_METHODS",
    "SIDES",
    "CordMidline",
    "DtiAnalysis",
    "GradientTable",
    "LesionDetection",
    "MotionCorrection",
    "RoiMetrics",
    "TensorMaps",
    "analyse_dwi",
    "cord_midline",
    "correct_motion",
    "detect_lesion",
    "fit_tensors",
    "gradient_table",
    "homolog_mask",
    "load_mask",
    "mirror_mask",
    "rotate_bvecs",
]
