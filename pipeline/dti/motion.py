"""Rigid motion correction of diffusion volumes, with the gradient directions rotated to match.

Why not register every volume straight to the mean b0: at b = 1000 s/mm² the CSF and the soft tissue
around the sac look alike (the sac's edge, the b0's strongest feature, is gone), so mutual information
between one noisy diffusion-weighted volume and the b0 has no clear optimum and the registration wanders
(it reported a 108 degree turn on a motionless series). The registration is done in two steps instead:

1. each volume is registered to the mean of its own shell (b0s to the mean b0, diffusion-weighted
   volumes to the mean of their b-value shell): same contrast, so the optimum is sharp;
2. each shell's mean, rebuilt from the volumes moved into place (six-parameter model: by cubic
   B-spline, ``REBUILD_INTERPOLATOR``), is registered once to the mean b0:
   one high-SNR image, in which the cord and the tissue edges of all gradient directions add up. The
   contrasts differ, so this step matches edge strengths (gradient magnitude of the log signal: the
   shared S0 texture is the same additive term in both) by correlation, sampled off the voxel grid and
   minimised by Nelder-Mead (:func:`_register_edges`, :func:`_edge_strength`).

A volume's transform is the composition of the two. Step 1's metric is Mattes mutual information on
images smoothed in-plane by ``SMOOTHING_PIXELS`` and sampled on a regular, jittered half of the voxels
(fixed seed, so the result is deterministic). Both choices remove the interpolation artefact of mutual
information (Pluim et al., Comput Vis Image Underst 2000;77:211-232): on the voxel grid itself the
noise is not smoothed by interpolation, so a motionless volume would otherwise prefer being moved.
Step 2 samples off the grid for the same reason (see :func:`_register_edges`).

Accuracy on synthetic moved series (tests/dti/test_dti_motion.py, benchmarks/dti_motion.py; worst
volume of each series, series seeds 5-20): in-plane model within 0.5 degree and 0.1 mm. Six-parameter
model (1.5 mm isotropic), on two generators:

- neck series, whose S0 and diffusivity go together tissue by tissue: rotation median 0.50 / worst
  0.65 degree (seed 20), shift median 0.64 / worst 0.87 mm (seed 19). In-plane shifts are found to
  about 0.05 mm; the shift error is a common offset of the diffusion-weighted volumes along the cord
  (+0.1 to +0.4 mm), which this phantom (anatomy almost constant along the cord, a slight taper) pins
  least. Motionless: at most 0.41 degree / 0.30 mm (seeds 3, 5-8).
- textured series, whose diffusivity has a texture of its own: rotation median 0.51 / worst 0.96
  degree (seed 17), shift median 0.14 / worst 0.31 mm (seed 10). Motionless: at most 0.40 degree /
  0.27 mm (seeds 3, 5-8).

With the shell means rebuilt by linear interpolation instead (``REBUILD_INTERPOLATOR`` says why not):
neck 0.48 / 0.66 degree, 0.88 / 1.12 mm; textured 0.63 / 1.20 degree, 0.16 / 0.34 mm.
On the textured series the rotation error is a systematic offset of step 2 over all the
diffusion-weighted volumes (step 1 is within 0.1 degree). A large part comes
from the test series' diffusivity texture, independent of its S0 texture and as strong in the log
signal: the b0 does not show it, so a cross-contrast metric can mistake it for misalignment. Given the
true step 1, every metric tried (edge correlation, mutual information, correlation of the log signal,
variance of the log ratio) erred by 0.6-1.2 degree at worst on seeds 5-12. Without that texture the
whole correction errs by median 0.51 / worst 0.80 degree with this metric and 0.35 / 0.49 with mutual
information of the log signal, which however erred most with it (worst 1.39 degree, seeds 5-12).
A model-based refinement of step 1 (each diffusion-weighted volume registered again to its
leave-one-out prediction from a log-linear tensor fit of the aligned series, as FSL eddy registers to
a Gaussian-process prediction; Andersson & Sotiropoulos, NeuroImage 2016;125:1063-1078) did not help on
the neck series (seed 5: largest rotation scatter 0.91 -> 0.65-0.70 degree but shift scatter 0.28 ->
0.59-0.98 mm, with correlation, mutual information or mean squares): each b = 1000 s/mm² volume is too
noisy, and such a prediction cannot fix the common offset (a diffusivity fitted freely per voxel
absorbs it); eddy, too, aligns the shells to the b0 in a separate step.

Cord series (tests/dti/test_dti_motion.py ``cord_moving_series``: the sample DWI's phantom, 0.8 x 0.8 x 4
mm, each pose rendered exactly, in-plane model; benchmarks/dti_motion.py --series cord, seeds 5-20):
9 of 16 draws are refused, 5 by the limits and 4 because step 1 diverged on one or two volumes (on test
draws 1, 2 and 5 they were 9-12 mm off and accepted before :func:`_misregistered_volumes`). On the
other 7 the shifts are found (worst 0.30 mm) but the in-plane turn of the almost elliptical cord is not
(median 3.59, worst 3.74 degrees, about the applied turn; dipy's ``motion_correction`` misses it too). Motionless: median 0.45, worst 1.51 degrees (seed 8), 0.14 mm. Why the turn is
missed: with an ideal noise-free template, ITK's gradient-descent, conjugate-gradient and Powell
optimizers leave that rotation where it starts (errors equal the applied turn) while Nelder-Mead on the
correlation finds it within 0.7 degree; the Cramér-Rao bound per diffusion-weighted volume is 0.11-0.27
degree (1 SD). Against the shell mean instead, whose cord contrast differs with the gradient direction,
the Nelder-Mead estimate is biased by 1-2 degrees on motionless series: the template must be the
model's prediction for each direction (as FSL eddy registers to), which remains to be done.

Degrees of freedom. Cord DWI is acquired in thick axial slices along the cord, whose anatomy hardly
changes over a short slab, so a tilt out of the slice plane or a shift along the slices cannot be
measured (Spinal Cord Toolbox ``sct_dmri_moco`` corrects in-plane, slice-wise motion by default, for the
same reason).
When the slice spacing is at least ``THICK_SLICE_RATIO`` times the in-plane spacing only the in-plane
rigid motion (one rotation about the slice normal, two shifts) is estimated; otherwise all six
parameters. Registration runs in the image's own axes (rotations about its voxel axes), and the result
is expressed in LPS.

Why the b-vectors must turn too (Leemans & Jones, Magn Reson Med 2009;61:1336-1349): if the head was
rotated by ``Q`` while volume *i* was acquired, the tissue saw the scanner gradient ``g`` as ``Qᵀg`` in
the reference pose. The registration transform maps reference points to volume-*i* points,
``p_i = A p_ref + t``, so ``A`` estimates ``Q`` and the gradient to fit with is ``Aᵀg`` (in LPS). FSL
b-vectors are converted to LPS and back through the image axes (with FSL's first-axis flip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage, optimize
from scipy.spatial.transform import Rotation

from pipeline.errors import AnalysisError
from pipeline.seeds import Seeds
from pipeline.volume import Volume

MOTION_SEEDS = "diffusion.motion_correction"
HISTOGRAM_BINS = 32
MAX_ITERATIONS = 300
SMOOTHING_PIXELS = 1.0
"""In-plane Gaussian σ applied to both images before the metric (noise, interpolation artefact)."""
EDGE_SMOOTHING_PIXELS = 0.5
"""Gaussian σ of the edge images of the cross-contrast step; wider kernels shifted the optimum (a
degree at σ = 2 on the textured test series), narrower ones let noise in."""
LOG_FLOOR = 0.05
"""Floor (fraction of the image's maximum) under the signal before the log of the cross-contrast step:
a diffusion-weighted image's background is noise, whose log would otherwise be all edges."""
SIMPLEX_SIZES_MM = (1.0, 0.25)
"""First simplex of each Nelder-Mead run of the cross-contrast step (mm of shift at the field's radius)."""
SPLINE_ORDER = 3
"""Cross-contrast step, six parameters: B-spline order of the edge images' interpolation (linear
smooths the sharp edges the metric relies on: worst 1.16 instead of 0.84 degree over seeds 5-12)."""
MARGIN_VOXELS = 3
"""Cross-contrast step: samples stay this far inside the field of view along the axes that move."""
REBUILD_INTERPOLATOR = sitk.sitkBSpline
"""Six-parameter model: interpolation of the volumes that rebuild a shell's mean for step 2. Linear
interpolation blurs each moved volume by a different amount and the still b0s not at all; the blurred
edges' log profile peaks elsewhere, and along a slightly tapering neck that reads as a shift along the
cord (neck test series, seeds 5-20: common shift along z +0.35-0.63 mm with linear, less with cubic)."""
SAMPLING_FRACTION = 0.5
SAMPLING_SEED = 1
THICK_SLICE_RATIO = 2.0
"""Slice spacing / in-plane spacing at or above which only in-plane motion is estimated."""
SHELL_WIDTH_S_MM2 = 100.0
"""Diffusion-weighted volumes whose b-values round to the same multiple of this form one shell."""
MAX_CORRELATION_LOSS = 0.1
"""A volume whose correlation with the other volumes of its shell drops by more than this once moved
into place was misregistered (:func:`_misregistered_volumes`). Over every accepted correction of the test
series (textured seeds 5-20, neck seeds 5-12, cord seeds 1-8, and motionless ones) it never fell; on the
cord series' diverged volumes (seeds 1, 2, 5, 9, 14 and 20) it fell by 0.40-0.72."""


@dataclass(frozen=True)
class MotionLimits:
    """Largest motion accepted as real; beyond it the registration is taken to have failed.

    Values come from ``seeds/diffusion.yaml`` (``motion_correction``) through the caller.
    """

    max_rotation_deg: float
    max_translation_mm: float

    @classmethod
    def from_seeds(cls, seeds: Seeds) -> MotionLimits:
        """Limits from ``seeds/diffusion.yaml`` (``motion_correction.max_rotation_deg`` / ``..._mm``)."""
        return cls(
            max_rotation_deg=seeds.number(f"{MOTION_SEEDS}.max_rotation_deg"),
            max_translation_mm=seeds.number(f"{MOTION_SEEDS}.max_translation_mm"),
        )


@dataclass(frozen=True)
class MotionCorrection:
    """Corrected series and the transforms found.

    Attributes
    ----------
    volume : Volume
        4-D series resampled onto the reference (mean b0) grid.
    bvecs : (N, 3) ndarray
        Gradient directions rotated into the reference pose (FSL convention; zero rows for b0).
    rotations_lps : (N, 3, 3) ndarray
        Rotation ``A`` of each volume (reference -> volume).
    translations_mm : (N, 3) ndarray
        Translation of each volume (LPS mm): ``p_i = A p_ref + t``.
    displacement_mm : (N,) ndarray
        Displacement ``|A c + t - c|`` of the centre ``c`` of the field of view, per volume.
    degrees_of_freedom : int
        3 (in-plane rigid) or 6 (rigid).
    """

    volume: Volume
    bvecs: np.ndarray
    rotations_lps: np.ndarray
    translations_mm: np.ndarray
    displacement_mm: np.ndarray
    degrees_of_freedom: int

    @property
    def rotation_deg(self) -> np.ndarray:
        """Rotation angle of each volume, degrees."""
        return _rotation_angle_deg(self.rotations_lps)


def _rotation_angle_deg(rotations: np.ndarray) -> np.ndarray:
    """Angle of (..., 3, 3) rotation matrices, degrees (trace = 1 + 2 cos θ)."""
    cosine = (np.trace(rotations, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def fsl_to_lps(affine_lps: np.ndarray) -> np.ndarray:
    """Matrix taking FSL b-vectors (voxel axes, first flipped if det(RAS) > 0) to LPS directions."""
    linear = np.asarray(affine_lps, dtype=np.float64)[:3, :3]
    axes = linear / np.linalg.norm(linear, axis=0)
    flip = np.eye(3)
    if np.linalg.det(np.diag([-1.0, -1.0, 1.0]) @ linear) > 0:
        flip[0, 0] = -1.0
    return axes @ flip


def rotate_bvecs(bvecs: np.ndarray, rotations_lps: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """Gradient directions seen by the tissue in the reference pose: ``g' = Aᵀ g`` in LPS.

    Parameters
    ----------
    bvecs : (N, 3) ndarray
        FSL-convention directions of the image with ``affine_lps``.
    rotations_lps : (N, 3, 3) ndarray
        Rotation of each volume, reference -> volume (the registration transform's matrix).
    """
    to_lps = fsl_to_lps(affine_lps)
    lps = np.asarray(bvecs, dtype=np.float64) @ to_lps.T
    turned = np.einsum("nji,nj->ni", rotations_lps, lps)  # Aᵀ g
    return turned @ np.linalg.inv(to_lps).T


def _index_frame_image(array: np.ndarray, spacing_mm: np.ndarray) -> sitk.Image:
    """SimpleITK image in the volume's own axes (identity direction, origin 0), smoothed in-plane."""
    smooth = ndimage.gaussian_filter(
        np.asarray(array, dtype=np.float32), (SMOOTHING_PIXELS, SMOOTHING_PIXELS, 0.0)
    )
    image = sitk.GetImageFromArray(np.ascontiguousarray(smooth.transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing_mm))
    return image


def _register(fixed: sitk.Image, moving: sitk.Image, *, in_plane: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rigid ``p -> A p + t`` (mm, image axes) mapping fixed-image points to moving-image points.

    Parameters are scaled by the physical shift they cause (ITK ``SetOptimizerScalesFromPhysicalShift``)
    so that one optimizer step moves rotations and translations alike; the rotation centre is the
    centre of the field of view. In-plane registration freezes the two out-of-plane rotations and the
    shift along the slices (optimizer weights 0).
    """
    size = np.array(fixed.GetSize(), dtype=np.float64)
    spacing = np.array(fixed.GetSpacing(), dtype=np.float64)
    transform = sitk.Euler3DTransform()
    transform.SetCenter(tuple((size - 1.0) / 2.0 * spacing))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, SAMPLING_SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=1e-4,
        numberOfIterations=MAX_ITERATIONS,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    if in_plane:
        method.SetOptimizerWeights([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)
    centre = np.array(transform.GetCenter())
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)
    # Euler transform: T(p) = A (p - c) + c + t = A p + (c + t - A c).
    translation = centre + np.array(transform.GetTranslation()) - matrix @ centre
    return matrix, translation


def _edge_strength(array: np.ndarray, spacing_mm: np.ndarray, *, in_plane: bool) -> np.ndarray:
    """Gradient magnitude (per mm) of the log signal, smoothed by ``EDGE_SMOOTHING_PIXELS``.

    The log turns the S0 texture that a b0 and a diffusion-weighted image share into the same additive
    term in both, whatever the attenuation around it; the magnitude keeps edges whose contrast flips
    (CSF bright on b0, dark at b = 1000 s/mm²). The background is floored at ``LOG_FLOOR`` of the
    maximum: its noise would otherwise be all edges.
    """
    data = np.log(np.maximum(np.asarray(array, dtype=np.float64), LOG_FLOOR * float(np.max(array))))
    sigma = (EDGE_SMOOTHING_PIXELS, EDGE_SMOOTHING_PIXELS, 0.0 if in_plane else EDGE_SMOOTHING_PIXELS)
    squared = np.zeros_like(data)
    for axis in range(2 if in_plane else 3):
        order = [0, 0, 0]
        order[axis] = 1
        squared += (ndimage.gaussian_filter(data, sigma, order=order) / spacing_mm[axis]) ** 2
    return np.sqrt(squared)


def _register_edges(
    fixed: np.ndarray, moving: np.ndarray, spacing_mm: np.ndarray, *, in_plane: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rigid ``p -> A p + t`` (mm, image axes) from fixed to moving points: the cross-contrast step.

    Maximises the correlation of the two images' edge strengths (:func:`_edge_strength`); its optimum
    is where the edges they share coincide. Mutual information of the log signal (jittered likewise)
    erred by up to 1.2 degrees on the textured test series' seeds 5-12, this metric by up to 0.84.

    Six-parameter model: the metric is evaluated at points jittered off the voxel grid (fixed seed), so
    both images are interpolated alike at every shift (cubic B-spline, ``SPLINE_ORDER``). On the grid
    the fixed image is not interpolated while the moving one is smoothed most at half a voxel, and an
    image with texture of its own (noise, a diffusivity pattern the b0 lacks) correlates best once
    smoothed: the optimum moved by half a voxel along the slices on the test series, 0.5-0.9 mm (Pluim
    et al., Comput Vis Image Underst 2000;77:211-232). The grid also puts a kink in the metric at the
    moving image's own grid pose, which held rotations there: with the shell mean turned 1 degree away
    from the b0 (seeds 6, 8, 17), the grid version found 0.30, 0.57 and 0.00 degree. In-plane model: on the grid with linear
    interpolation, as before; nothing moves along its thick slices, and jittering in-plane turned the
    featureless cord of the sample DWI by 1.4 degrees where the grid gives under 1.

    SimpleITK's ``MetricEvaluate`` ignores metric sampling, so the metric is computed here, and
    minimised by Nelder-Mead (values only). Samples lie ``MARGIN_VOXELS`` inside the field of view along
    the axes that move; beyond the moving image's edge its nearest voxel is used. Parameters: rotation
    vector, scaled to the shift it causes at the field of view's radius (mm), and shift (mm), about the
    centre.
    """
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    shape = np.array(fixed.shape)
    centre = (shape - 1.0) / 2.0 * spacing
    moved_axes = np.array([True, True, not in_plane])
    margin = np.where(moved_axes, MARGIN_VOXELS, 0)
    axes = [np.arange(m, n - m, dtype=np.float64) for m, n in zip(margin, shape, strict=True)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    order = 1 if in_plane else SPLINE_ORDER
    fixed_edges = _edge_strength(fixed, spacing, in_plane=in_plane)
    moving_edges = _edge_strength(moving, spacing, in_plane=in_plane)
    if not in_plane:
        points += np.random.default_rng(SAMPLING_SEED).uniform(-0.5, 0.5, points.shape)
        fixed_edges = ndimage.spline_filter(fixed_edges, order, mode="nearest")
        moving_edges = ndimage.spline_filter(moving_edges, order, mode="nearest")
    f = ndimage.map_coordinates(fixed_edges, points.T, order=order, mode="nearest", prefilter=False)
    f = (f - f.mean()) / np.linalg.norm(f - f.mean())
    points_mm = points * spacing - centre
    active = [2, 3, 4] if in_plane else [0, 1, 2, 3, 4, 5]
    scale = np.array([float(np.linalg.norm(centre))] * 3 + [1.0] * 3)[active]

    def transform_of(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parameters = np.zeros(6)
        parameters[active] = x / scale
        return Rotation.from_rotvec(parameters[:3]).as_matrix(), parameters[3:]

    def cost(x: np.ndarray) -> float:
        matrix, shift = transform_of(x)
        where = (points_mm @ matrix.T + centre + shift) / spacing
        m = ndimage.map_coordinates(moving_edges, where.T, order=order, mode="nearest", prefilter=False)
        m = m - m.mean()
        return -float(f @ m) / max(float(np.linalg.norm(m)), 1e-12)

    # Nelder-Mead restarted from its answer with a smaller simplex: one run may stall on a ridge in
    # six dimensions (a standard remedy, e.g. Press et al., Numerical Recipes §10.5).
    position = np.zeros(len(active))
    for size_mm in SIMPLEX_SIZES_MM:
        simplex = np.vstack([position, position + size_mm * np.eye(len(active))])
        result = optimize.minimize(
            cost,
            position,
            method="Nelder-Mead",
            options={"initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-9},
        )
        position = np.asarray(result.x)
    matrix, shift = transform_of(position)
    # About the centre: T(p) = A (p - c) + c + s = A p + (c + s - A c).
    return matrix, centre + shift - matrix @ centre


def _resample(
    array: np.ndarray,
    spacing_mm: np.ndarray,
    matrix: np.ndarray,
    translation: np.ndarray,
    *,
    extrapolate: bool = False,
    interpolator: int = sitk.sitkLinear,
) -> np.ndarray:
    """``array`` sampled at ``A p + t`` for every voxel centre p (image axes, mm), by ``interpolator``.

    Outside the field of view: 0, or with ``extrapolate`` the nearest voxel's value (so that a moved
    image used for registration has no artificial edge where its data end).
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array, np.float32).transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing_mm))
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(tuple(matrix.ravel()))
    transform.SetTranslation(tuple(translation))
    out = sitk.Resample(
        image,
        image,
        transform,
        interpolator,
        0.0,
        sitk.sitkFloat32,
        useNearestNeighborExtrapolator=extrapolate,
    )
    return sitk.GetArrayFromImage(out).transpose(2, 1, 0)


def _shells(bvals_s_mm2: np.ndarray, b0_mask: np.ndarray) -> np.ndarray:
    """Shell index of each volume: 0 for the b0s, then one per rounded b-value."""
    rounded = np.where(b0_mask, -1.0, np.round(np.asarray(bvals_s_mm2) / SHELL_WIDTH_S_MM2))
    _, index = np.unique(rounded, return_inverse=True)
    return np.asarray(index).reshape(-1)


def _loo_correlations(data: np.ndarray, shells: np.ndarray) -> np.ndarray:
    """Correlation of each volume with the mean of the other volumes of its shell (NaN if alone)."""
    out = np.full(data.shape[-1], np.nan)
    for shell in np.unique(shells):
        members = np.flatnonzero(shells == shell)
        if members.size < 2:
            continue
        flat = data[..., members].reshape(-1, members.size).astype(np.float64)
        others = (flat.sum(axis=1, keepdims=True) - flat) / (members.size - 1)
        flat = flat - flat.mean(axis=0)
        others = others - others.mean(axis=0)
        norms = np.linalg.norm(flat, axis=0) * np.linalg.norm(others, axis=0)
        out[members] = np.sum(flat * others, axis=0) / np.maximum(norms, 1e-12)
    return out


def _misregistered_volumes(
    before: np.ndarray, after: np.ndarray, shells: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Volumes that match the rest of their shell worse once moved into place than as acquired.

    A correct registration brings a volume into line with the others (same contrast), so its
    correlation with their mean rises or stays; a registration that diverged (it happens on noisy,
    almost featureless cord volumes, where the transform is weakly determined) moves it away, and the
    correlation falls by far more than ``MAX_CORRELATION_LOSS``. Returns the indices and both
    correlations of every volume.
    """
    was = _loo_correlations(before, shells)
    now = _loo_correlations(after, shells)
    return np.flatnonzero(now < was - MAX_CORRELATION_LOSS), was, now


def correct_motion(
    volume: Volume,
    bvals_s_mm2: np.ndarray,
    bvecs: np.ndarray,
    b0_mask: np.ndarray,
    *,
    limits: MotionLimits,
) -> MotionCorrection:
    """Register every volume rigidly to the mean b0 and rotate its gradient direction accordingly.

    Method in the module docstring. Loops over volumes (a few tens), never over voxels.

    Raises
    ------
    AnalysisError
        A volume's transform exceeds ``limits``, or moved into place it matches the rest of its shell
        worse than as acquired (:func:`_misregistered_volumes`): the registration failed; the message
        says which volume.
    """
    data = np.asarray(volume.array, dtype=np.float32)
    b0 = np.asarray(b0_mask, dtype=bool)
    spacing = np.asarray(volume.spacing_mm, dtype=np.float64)
    in_plane = bool(spacing[2] >= THICK_SLICE_RATIO * max(spacing[0], spacing[1]))
    rebuild = sitk.sitkLinear if in_plane else REBUILD_INTERPOLATOR
    shells = _shells(bvals_s_mm2, b0)
    n = data.shape[-1]
    matrices = np.tile(np.eye(3), (n, 1, 1))
    shifts = np.zeros((n, 3))
    moving = [_index_frame_image(data[..., i], spacing) for i in range(n)]
    reference = data[..., b0].mean(axis=-1)
    for shell in np.unique(shells):
        members = np.flatnonzero(shells == shell)
        # Step 1: each volume to its shell's mean (same contrast).
        shell_mean = _index_frame_image(data[..., members].mean(axis=-1), spacing)
        for i in members:
            matrices[i], shifts[i] = _register(shell_mean, moving[i], in_plane=in_plane)
        if shell == shells[b0][0]:
            continue  # the b0 shell's mean is the reference itself
        # Step 2: the shell's mean, rebuilt in place, to the mean b0; p_i = A_i (S p + s) + t_i.
        aligned = np.mean(
            [
                _resample(
                    data[..., i], spacing, matrices[i], shifts[i], extrapolate=True, interpolator=rebuild
                )
                for i in members
            ],
            axis=0,
        )
        s_matrix, s_shift = _register_edges(reference, aligned, spacing, in_plane=in_plane)
        shifts[members] = np.einsum("nij,j->ni", matrices[members], s_shift) + shifts[members]
        matrices[members] = matrices[members] @ s_matrix

    # Image axes (mm from the first voxel) -> LPS: p_lps = D p + o.
    direction = np.asarray(volume.direction_lps, dtype=np.float64)
    origin = np.asarray(volume.affine_lps, dtype=np.float64)[:3, 3]
    rotations = np.einsum("ij,njk,lk->nil", direction, matrices, direction)
    translations = origin + shifts @ direction.T - np.einsum("nij,j->ni", rotations, origin)
    centre = (np.array(data.shape[:3]) - 1.0) / 2.0 * spacing
    displacement = np.linalg.norm(matrices @ centre + shifts - centre, axis=1)
    angles = _rotation_angle_deg(rotations)
    worst = np.flatnonzero((angles > limits.max_rotation_deg) | (displacement > limits.max_translation_mm))
    if worst.size:
        index = int(worst[0])
        raise AnalysisError(
            f"motion correction failed on volume {index + 1}: registration to the mean b0 gave an "
            f"implausible {angles[index]:.0f} degree rotation / {displacement[index]:.0f} mm displacement "
            f"(limits {limits.max_rotation_deg:g} degrees, {limits.max_translation_mm:g} mm); the images "
            "share too little structure; run without --motion-correction"
        )
    corrected = np.stack(
        [_resample(data[..., i], spacing, matrices[i], shifts[i]) for i in range(n)], axis=-1
    )
    failed, was, now = _misregistered_volumes(data, corrected, shells)
    if failed.size:
        index = int(failed[0])
        raise AnalysisError(
            f"motion correction failed on volume {index + 1}: moved into place it matches the other "
            f"volumes of its b-value shell worse than as acquired (correlation {was[index]:.2f} -> "
            f"{now[index]:.2f}; {failed.size} of {n} volumes fail this check): the registration diverged; "
            "run without --motion-correction"
        )
    turned = rotate_bvecs(bvecs, rotations, volume.affine_lps)
    turned[b0 | (np.asarray(bvals_s_mm2) <= 0)] = 0.0
    return MotionCorrection(
        volume=volume.with_array(corrected, note="motion corrected (rigid, to the mean b0)"),
        bvecs=turned,
        rotations_lps=rotations,
        translations_mm=translations,
        displacement_mm=displacement,
        degrees_of_freedom=3 if in_plane else 6,
    )
