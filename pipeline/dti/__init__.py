"""DTI stage: tensor fit, maps, lesion ROI and its mirrored contralateral homolog."""

from pipeline.dti.fit import FIT_METHODS, fit_tensors
from pipeline.dti.gradients import GradientTable, gradient_table
from pipeline.dti.maps import TensorMaps

__all__ = ["FIT_METHODS", "GradientTable", "TensorMaps", "fit_tensors", "gradient_table"]
