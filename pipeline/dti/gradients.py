"""Gradient table checks and the tensor design matrix, in dipy's conventions.

Why dipy's conventions: our fit must reproduce dipy's ``TensorModel`` (the field's reference
implementation) to rounding error, so the b-values, b-vectors and design matrix are built exactly as
``dipy.core.gradients.gradient_table_from_bvals_bvecs`` and ``dipy.reconst.dti.design_matrix`` build
them (dipy 1.9-1.12):

* volumes with b <= ``b0_threshold_s_mm2`` (50 s/mm²) are non-diffusion-weighted;
* NaN vector components count as 0; a vector whose norm is not 1 within 0.01 is set to zero and its
  b-value to 0 (allowed only for b0 volumes: a diffusion-weighted volume needs a unit direction);
* the design matrix row of volume *i* is ``-(b gx², 2b gx gy, b gy², 2b gx gz, 2b gy gz, b gz², 1)``,
  so the fitted parameters are ``(Dxx, Dxy, Dyy, Dxz, Dyz, Dzz, -ln S0)`` (Basser et al., J Magn Reson B
  1994;103:247-254).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import InputDataError

B0_THRESHOLD_S_MM2 = 50.0
"""b-values at or below this count as b0 (dipy's default ``b0_threshold``)."""

UNIT_TOLERANCE = 1e-2
"""A b-vector is a unit vector when its norm is within this of 1 (dipy's default ``atol``)."""

MIN_DIRECTIONS = 6
"""A symmetric 3x3 tensor has six unknowns: fewer non-collinear directions cannot determine it."""


@dataclass(frozen=True)
class GradientTable:
    """Checked b-values and b-vectors of one diffusion series.

    Attributes
    ----------
    bvals_s_mm2 : (N,) ndarray
        b-values after dipy's normalisation (0 where a b0 volume had no unit vector).
    bvecs : (N, 3) ndarray
        Gradient directions in the FSL ``.bvec`` convention as dipy reads it (zero rows for b0s).
    b0_mask : (N,) bool ndarray
        True for the non-diffusion-weighted volumes.
    """

    bvals_s_mm2: np.ndarray
    bvecs: np.ndarray
    b0_mask: np.ndarray

    @property
    def n_volumes(self) -> int:
        return int(self.bvals_s_mm2.shape[0])

    @property
    def n_directions(self) -> int:
        """Number of distinct diffusion-weighted directions (antipodal vectors count once)."""
        return distinct_directions(self.bvecs[~self.b0_mask])

    def design_matrix(self) -> np.ndarray:
        """The (N, 7) design matrix of dipy's ``design_matrix`` (rows ``-B``, dummy column ``-1``)."""
        g = self.bvecs
        b = self.bvals_s_mm2
        design = np.empty((self.n_volumes, 7))
        design[:, 0] = g[:, 0] * g[:, 0] * 1.0 * b
        design[:, 1] = g[:, 0] * g[:, 1] * 2.0 * b
        design[:, 2] = g[:, 1] * g[:, 1] * 1.0 * b
        design[:, 3] = g[:, 0] * g[:, 2] * 2.0 * b
        design[:, 4] = g[:, 1] * g[:, 2] * 2.0 * b
        design[:, 5] = g[:, 2] * g[:, 2] * 1.0 * b
        design[:, 6] = 1.0
        return -design


def distinct_directions(unit_vectors: np.ndarray, *, tolerance_deg: float = 1.0) -> int:
    """Count directions that differ by more than ``tolerance_deg`` (a vector and its negative are one).

    Vectorised over pairs: the series has at most a few hundred directions.
    """
    vectors = np.asarray(unit_vectors, dtype=np.float64).reshape(-1, 3)
    if vectors.shape[0] == 0:
        return 0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    cosine = np.abs(vectors @ vectors.T)
    same = cosine >= np.cos(np.deg2rad(tolerance_deg))
    # A direction is new when no earlier direction is the same as it.
    earlier = np.tril(same, k=-1)
    return int(np.count_nonzero(~earlier.any(axis=1)))


def gradient_table(
    bvals_s_mm2: np.ndarray | None,
    bvecs: np.ndarray | None,
    *,
    n_volumes: int | None = None,
    source: str = "diffusion series",
) -> GradientTable:
    """Check a diffusion encoding and normalise it as dipy does.

    Parameters
    ----------
    bvals_s_mm2 : (N,) array-like
        b-values in s/mm².
    bvecs : (N, 3) or (3, N) array-like
        Gradient directions (an FSL ``.bvec`` file's 3 x N layout is accepted and transposed).
    n_volumes : int, optional
        Number of volumes in the image; the table must have one entry per volume.
    source : str
        Name of the series or file, for error messages.

    Raises
    ------
    InputDataError
        Missing or malformed gradients, negative or non-finite b-values, no b0, fewer than six
        directions (or directions that cannot determine a tensor), or a count that does not match the
        volumes.
    """
    if bvals_s_mm2 is None or bvecs is None:
        raise InputDataError(f"{source}: diffusion gradients missing (no b-values or b-vectors)")
    bvals = np.asarray(bvals_s_mm2, dtype=np.float64)
    vectors = np.asarray(bvecs, dtype=np.float64)
    if bvals.ndim != 1 or bvals.size == 0:
        raise InputDataError(f"{source}: b-values must be a non-empty list, got shape {bvals.shape}")
    if vectors.ndim == 2 and vectors.shape[0] == 3 and vectors.shape[1] == bvals.size and bvals.size != 3:
        vectors = vectors.T
    if vectors.ndim != 2 or vectors.shape[1] != 3:
        raise InputDataError(f"{source}: b-vectors must be N x 3, got shape {vectors.shape}")
    if vectors.shape[0] != bvals.size:
        raise InputDataError(
            f"{source}: {bvals.size} b-values but {vectors.shape[0]} b-vectors; the gradient table is "
            "inconsistent"
        )
    if n_volumes is not None and bvals.size != n_volumes:
        raise InputDataError(
            f"{source}: image has {n_volumes} volumes but the gradient table has {bvals.size} entries"
        )
    if not np.all(np.isfinite(bvals)) or np.any(bvals < 0):
        raise InputDataError(f"{source}: b-values must be finite and non-negative")
    b0_mask = bvals <= B0_THRESHOLD_S_MM2
    if not b0_mask.any():
        raise InputDataError(f"{source}: no b0 volume (b <= {B0_THRESHOLD_S_MM2:g} s/mm²)")
    weighted = ~b0_mask
    vectors = np.where(np.isnan(vectors), 0.0, vectors)
    norms = np.linalg.norm(vectors, axis=1)
    unit = np.abs(norms - 1.0) <= UNIT_TOLERANCE
    bad = np.flatnonzero(weighted & ~unit)
    if bad.size:
        raise InputDataError(
            f"{source}: volume {int(bad[0])} has b = {bvals[bad[0]]:g} s/mm² but no unit gradient direction "
            f"(|g| = {norms[bad[0]]:.3g}); gradients missing or corrupt"
        )
    vectors = np.where(unit[:, None], vectors, 0.0)
    bvals = bvals * unit
    table = GradientTable(bvals, vectors, b0_mask)
    count = table.n_directions
    if count < MIN_DIRECTIONS:
        raise InputDataError(
            f"{source}: {count} distinct gradient directions; the diffusion tensor needs at least "
            f"{MIN_DIRECTIONS}"
        )
    # Six distinct but coplanar directions still leave the tensor undetermined: the design must have rank 7.
    if np.linalg.matrix_rank(table.design_matrix()) < 7:
        raise InputDataError(
            f"{source}: the {count} gradient directions do not determine the tensor (design matrix rank < 7; "
            "directions coplanar?)"
        )
    return table
