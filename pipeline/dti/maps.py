"""The result of a tensor fit: scalar maps on the DWI grid, with direction maps computed on demand."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pipeline.dti.eigen import principal_eigenvectors


@dataclass(frozen=True)
class TensorMaps:
    """Diffusion tensor maps of one DWI series (all arrays on the DWI grid).

    Diffusivities are in mm²/s when the b-values are in s/mm² (the API contract, DESIGN.md §4).

    Attributes
    ----------
    fa, md, ad, rd : (X, Y, Z) ndarrays
        Fractional anisotropy, mean diffusivity (= ADC), axial diffusivity λ1, radial diffusivity
        (λ2 + λ3) / 2. Zero outside ``mask``.
    evals : (X, Y, Z, 3) ndarray
        Eigenvalues, descending, clipped at the fit's minimum diffusivity (as dipy).
    tensor_elements : (X, Y, Z, 6) ndarray
        ``Dxx, Dxy, Dyy, Dxz, Dyz, Dzz`` in the frame of the b-vectors.
    s0 : (X, Y, Z) ndarray
        Fitted non-diffusion-weighted signal.
    mask : (X, Y, Z) bool ndarray
        Voxels that were fitted.
    method : str
        Fit method name (``WLS``, ``OLS``, ``NLLS``, ``RESTORE``).
    noise_sigma : float or None
        Noise standard deviation (signal units) the RESTORE fit used; None for the other methods.
    """

    fa: np.ndarray
    md: np.ndarray
    ad: np.ndarray
    rd: np.ndarray
    evals: np.ndarray
    tensor_elements: np.ndarray
    s0: np.ndarray
    mask: np.ndarray
    method: str
    noise_sigma: float | None = None

    @cached_property
    def principal_eigenvector(self) -> np.ndarray:
        """(X, Y, Z, 3) unit eigenvector of λ1 in the b-vector frame; zero outside the mask."""
        out = np.zeros((*self.mask.shape, 3))
        if self.mask.any():
            _, v1 = principal_eigenvectors(self.tensor_elements[self.mask])
            out[self.mask] = v1
        return out

    @cached_property
    def color_fa(self) -> np.ndarray:
        """(X, Y, Z, 3) colour FA: |v1| · FA (clipped to [0, 1]), red/green/blue along the b-vector axes.

        The usual directionally encoded colour map (Pajevic & Pierpaoli, Magn Reson Med 1999;42:526-540),
        computed as dipy's ``color_fa``.
        """
        return np.abs(self.principal_eigenvector) * np.clip(self.fa, 0.0, 1.0)[..., None]
