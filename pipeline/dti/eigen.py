"""Eigenvalues of many symmetric 3x3 tensors, closed form with an exact fallback.

The tensor fit needs only eigenvalues for FA, MD, AD and RD, so a per-voxel ``eigh`` (what dipy calls) is
wasted work. The trigonometric solution of the characteristic cubic (Smith, Commun ACM 1961;4:168) gives
all three eigenvalues with a handful of vectorised operations. It is accurate except where the arc cosine
is ill-conditioned: when the two largest eigenvalues nearly coincide (an oblate tensor, ``r -> -1``) the
largest eigenvalue loses digits, and when the two smallest coincide (``r -> +1``) the smallest does. The
quantities we report avoid the weak ones:

* MD = trace / 3 and FA = sqrt(3/2 · |D - MD·I|² / |D|²) come from the tensor invariants directly
  (no eigenvalue needed; FA of Basser & Pierpaoli, J Magn Reson B 1996;111:209-219);
* AD = λ1 from the closed form, and RD = (3·MD - λ1) / 2;
* where eigenvalues fall below the clipping floor (noise voxels), the clipped closed-form eigenvalues
  give all four, as in dipy;
* voxels where the closed form is weak (|r| within 1e-6 of 1, or p = 0) or where an eigenvalue lies so
  close to the clipping floor that rounding decides whether it is clipped are recomputed with LAPACK
  ``eigvalsh``.
"""

from __future__ import annotations

import numpy as np

# Lower-triangular element order of dipy's tensor parameters: Dxx, Dxy, Dyy, Dxz, Dyz, Dzz.
XX, XY, YY, XZ, YZ, ZZ = range(6)

ARCCOS_MARGIN = 1e-6
"""Closed form is used where |r| < 1 - this (r = det(D - qI) / 2p³); its error there is ~1e-12 of p."""

CLIP_MARGIN = 1e-6
"""Relative margin (of the deviatoric scale p) inside which a small eigenvalue is recomputed exactly."""


def tensor_from_elements(elements: np.ndarray) -> np.ndarray:
    """(..., 6) lower-triangular elements (dipy order) to (..., 3, 3) symmetric tensors."""
    index = np.array([[XX, XY, XZ], [XY, YY, YZ], [XZ, YZ, ZZ]])
    return elements[..., index]


def _exact_eigenvalues(elements: np.ndarray) -> np.ndarray:
    """Descending eigenvalues by LAPACK (the reference route, used for the few hard voxels)."""
    return np.linalg.eigvalsh(tensor_from_elements(elements))[..., ::-1]


def tensor_scalars(
    elements: np.ndarray, *, min_diffusivity: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted, clipped eigenvalues and FA, MD, AD, RD of symmetric tensors.

    Parameters
    ----------
    elements : (V, 6) ndarray
        Tensor elements ``Dxx, Dxy, Dyy, Dxz, Dyz, Dzz`` (mm²/s).
    min_diffusivity : float
        Eigenvalues below this are raised to it before any scalar is computed, as dipy's
        ``decompose_tensor`` does (negative diffusivities are unphysical).

    Returns
    -------
    evals : (V, 3) ndarray
        Eigenvalues, descending, clipped.
    fa, md, ad, rd : (V,) ndarrays
        Fractional anisotropy; mean, axial (λ1) and radial ((λ2 + λ3) / 2) diffusivity.
    """
    d = np.asarray(elements, dtype=np.float64)
    xx, xy, yy, xz, yz, zz = (d[:, i] for i in range(6))
    q = (xx + yy + zz) / 3.0
    axx, ayy, azz = xx - q, yy - q, zz - q
    off2 = xy * xy + xz * xz + yz * yz
    deviatoric2 = axx * axx + ayy * ayy + azz * azz + 2.0 * off2  # |D - qI|_F²
    norm2 = xx * xx + yy * yy + zz * zz + 2.0 * off2  # |D|_F²
    p = np.sqrt(deviatoric2 / 6.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # det(D - qI) / (2 p³), the cosine of three times the eigen-angle.
        det = axx * (ayy * azz - yz * yz) - xy * (xy * azz - yz * xz) + xz * (xy * yz - ayy * xz)
        r = np.clip(det / (2.0 * p * p * p), -1.0, 1.0)
        phi = np.arccos(r) / 3.0
        lam1 = q + 2.0 * p * np.cos(phi)
        lam3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
        fa = np.sqrt(1.5 * deviatoric2 / norm2)
    lam2 = 3.0 * q - lam1 - lam3
    evals = np.stack([lam1, lam2, lam3], axis=-1)
    # Each closed-form eigenvalue is accurate to ~1e-12 p away from r = ±1; within CLIP_MARGIN·p of the
    # floor it is unclear whether dipy clips it, so such voxels are recomputed exactly too.
    near_floor = np.abs(evals - min_diffusivity) <= (CLIP_MARGIN * p)[:, None]
    hard = (
        ~np.isfinite(r)
        | ~np.isfinite(lam1)
        | (p <= 0.0)
        | (np.abs(r) >= 1.0 - ARCCOS_MARGIN)
        | near_floor.any(axis=-1)
    )
    clipped = ~hard & (lam3 < min_diffusivity)
    md = q.copy()
    ad = lam1.copy()
    rd = (3.0 * q - lam1) / 2.0
    if np.any(clipped):
        # Unphysical (negative) eigenvalues are raised to the floor first, as dipy does; then the
        # scalars come from the clipped eigenvalues.
        low = np.maximum(evals[clipped], min_diffusivity)
        evals[clipped] = low
        md[clipped] = low.mean(axis=-1)
        ad[clipped] = low[:, 0]
        rd[clipped] = low[:, 1:].mean(axis=-1)
        fa[clipped] = fractional_anisotropy(low)
    if np.any(hard):
        exact = _exact_eigenvalues(d[hard]).clip(min=min_diffusivity)
        evals[hard] = exact
        md[hard] = exact.mean(axis=-1)
        ad[hard] = exact[:, 0]
        rd[hard] = exact[:, 1:].mean(axis=-1)
        fa[hard] = fractional_anisotropy(exact)
    return evals, fa, md, ad, rd


def fractional_anisotropy(evals: np.ndarray) -> np.ndarray:
    """FA from (..., 3) eigenvalues, Basser & Pierpaoli 1996; 0 where all eigenvalues are 0 (as dipy)."""
    e1, e2, e3 = evals[..., 0], evals[..., 1], evals[..., 2]
    all_zero = np.all(evals == 0, axis=-1)
    return np.sqrt(
        0.5 * ((e1 - e2) ** 2 + (e2 - e3) ** 2 + (e3 - e1) ** 2) / ((evals * evals).sum(-1) + all_zero)
    )


def principal_eigenvectors(elements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and the eigenvector of the largest, by LAPACK (``eigh``).

    Eigenvectors are only needed for the colour-FA and direction maps, computed once on the cord's
    field of view, so the exact route is used. The sign of an eigenvector is arbitrary; it is fixed so
    that its largest-magnitude component is positive, for reproducible maps.
    """
    values, vectors = np.linalg.eigh(tensor_from_elements(np.asarray(elements, dtype=np.float64)))
    v1 = vectors[..., :, 2]
    largest = np.take_along_axis(v1, np.abs(v1).argmax(axis=-1)[..., None], axis=-1)
    v1 = v1 * np.where(largest < 0, -1.0, 1.0)
    return values[..., ::-1], v1
