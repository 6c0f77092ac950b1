"""The CT dura against the modelled CSF level (pipeline.myelogram._rays), on synthetic slices with known truth.

Each slice holds an elliptic cord inside an elliptic dural sac whose contrast layers denser dorsally, blurred
by a Gaussian point-spread function and with noise. The traced dura is compared with the ellipse it was drawn
from, ray by ray.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.myelogram._rays import trace_outline
from pipeline.myelogram.ct_sac import smooth_sac_radii_mm

SPACING = np.array([0.5, 0.5])
SHAPE = (120, 120)
CENTRE_MM = np.array([30.0, 30.0])
CORD_SEMI_MM = np.array([6.0, 4.5])
SAC_CENTRE_MM = np.array([30.0, 31.0])
SAC_SEMI_MM = np.array([10.0, 7.5])
CORD_HU, SOFT_HU, EPIDURAL_HU = 33.0, 40.0, -40.0
BONE_LEVEL_HU = 1000.0
MIN_STEP_HU = 80.0


def _grid_mm() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(SHAPE[0]) * SPACING[0]
    y = np.arange(SHAPE[1]) * SPACING[1]
    return np.meshgrid(x, y, indexing="ij")


def _ellipse_level(x: np.ndarray, y: np.ndarray, centre: np.ndarray, semi: np.ndarray) -> np.ndarray:
    return np.sqrt(((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2)


def _slice(
    contrast_hu: float,
    *,
    bone_hu: float | None,
    artery: bool = False,
    seed: int = 0,
    touching_bone_hu: tuple[float, float] | None = None,
) -> np.ndarray:
    """Sampled, blurred and noisy slice; dorsal (+y) contrast 40 % denser than ventral.

    ``touching_bone_hu`` (cortex, cancellous): a lamina round the dorsal half that touches the dura with no
    epidural gap, a 0.8 mm cortex over 4 mm of cancellous bone.
    """
    x, y = _grid_mm()
    sac = _ellipse_level(x, y, SAC_CENTRE_MM, SAC_SEMI_MM)
    cord = _ellipse_level(x, y, CENTRE_MM, CORD_SEMI_MM) <= 1.0
    depth = np.clip((y - (SAC_CENTRE_MM[1] - SAC_SEMI_MM[1])) / (2 * SAC_SEMI_MM[1]), 0.0, 1.0)
    image = np.full(SHAPE, SOFT_HU)
    if bone_hu is not None:
        # Epidural gap of ~0.7 mm, then a 2 mm cortex ring round the dorsal half (lamina) as dense as the CSF.
        ring = (sac > 1.0) & (sac <= 1.3) & (y > SAC_CENTRE_MM[1])
        image[(sac > 1.0) & (sac <= 1.09)] = EPIDURAL_HU
        image[ring & (sac > 1.09)] = bone_hu
    if touching_bone_hu is not None:
        dorsal = y > SAC_CENTRE_MM[1]
        outer = _ellipse_level(x, y, SAC_CENTRE_MM, SAC_SEMI_MM + 4.8) <= 1.0
        cortex = _ellipse_level(x, y, SAC_CENTRE_MM, SAC_SEMI_MM + 0.8) <= 1.0
        image[dorsal & outer] = touching_bone_hu[1]
        image[dorsal & cortex] = touching_bone_hu[0]
    image[sac <= 1.0] = contrast_hu * (0.8 + 0.4 * depth[sac <= 1.0])
    if artery:
        # A dark vessel (unenhanced blood) crossing the lateral CSF.
        vessel = np.hypot(x - (CENTRE_MM[0] + 7.3), y - (CENTRE_MM[1] - 1.0)) <= 1.0
        image[vessel] = SOFT_HU
    image[cord] = CORD_HU
    image = ndimage.gaussian_filter(image, sigma=0.6 / SPACING[0])
    rng = np.random.default_rng(seed)
    return image + ndimage.gaussian_filter(rng.normal(0.0, 40.0, SHAPE), 0.5) * 2.0


def _true_sac_radius(origin_mm: np.ndarray, angles: np.ndarray) -> np.ndarray:
    return _ray_to_ellipse(origin_mm, angles, SAC_CENTRE_MM, SAC_SEMI_MM)


def _ray_to_ellipse(
    origin_mm: np.ndarray, angles: np.ndarray, centre_mm: np.ndarray, semi_mm: np.ndarray
) -> np.ndarray:
    """Distance from ``origin_mm`` to an ellipse along each ray (origin inside the ellipse)."""
    d = np.stack([np.cos(angles), np.sin(angles)], axis=1) / semi_mm
    p = (origin_mm - centre_mm) / semi_mm
    a = np.sum(d * d, axis=1)
    b = 2 * d @ p
    c = float(p @ p) - 1.0
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


def _trace(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    detect = ndimage.gaussian_filter(image, 0.5 / SPACING[0])
    edge = ndimage.gaussian_filter(image, 0.25 / SPACING[0])
    outline = trace_outline(detect, SPACING, CENTRE_MM, MIN_STEP_HU, BONE_LEVEL_HU, edge)
    return outline.sac_radius_mm - _true_sac_radius(outline.center_mm, outline.angles), outline.angles


def test_dura_follows_dorsally_denser_contrast_next_to_bone_as_dense() -> None:
    """Dense dorsal contrast (up to ~840 HU) beside a 1300 HU lamina: neither cut short nor run into bone."""
    for seed in range(3):
        error, _ = _trace(_slice(700.0, bone_hu=1300.0, seed=seed))
        assert np.median(np.abs(error)) < 0.3, (seed, np.round(error, 2))
        # Bone starts ~0.7 mm outside the dura: no ray reaches it, none stops more than 1 mm short.
        assert error.max() < 0.7, (seed, np.round(error, 2))
        assert error.min() > -1.0, (seed, np.round(error, 2))


def test_dense_contrast_against_a_lamina_as_dense_stops_at_its_cancellous_bone() -> None:
    """Contrast touching a cortex as dense over cancellous bone that the blur leaves above the half-way
    level between cord and CSF: no edge separates the CSF from the cortex, and the fall to soft tissue is
    4.8 mm further out. The dura stops at the cancellous bone: at most the 0.8 mm cortex (and half the
    blur) is taken for CSF on 93 % of the dorsal rays over the five draws (76-100 % on each; without the
    shelf rule 0-90 %, at 700 HU 0-14 %)."""
    for contrast_hu, bone_hu in ((700.0, (1100.0, 500.0)), (900.0, (1100.0, 550.0))):
        beyond = []
        for seed in range(5):
            error, angles = _trace(_slice(contrast_hu, bone_hu=None, seed=seed, touching_bone_hu=bone_hu))
            dorsal = np.sin(angles) > 0.3
            context = (contrast_hu, seed, np.round(error, 2))
            assert np.median(error[dorsal]) < 1.15, context
            beyond.append(np.mean(error[dorsal] > 1.3))
            assert beyond[-1] < 0.3, context
            # Rays nearly tangent to the lamina's end run inside the blur of bone and CSF: a few stop short.
            assert np.mean(error < -1.0) <= 0.1, context
            assert np.median(np.abs(error[~dorsal])) < 0.3, context
        assert np.mean(beyond) < 0.1, (contrast_hu, np.round(beyond, 2))


def test_dura_of_dilute_contrast_without_bone() -> None:
    for seed in range(3):
        error, _ = _trace(_slice(250.0, bone_hu=None, seed=seed))
        assert np.median(np.abs(error)) < 0.3, (seed, np.round(error, 2))
        assert np.abs(error).max() < 1.0, (seed, np.round(error, 2))


def test_dark_vessel_in_the_csf_does_not_cut_the_sac() -> None:
    """Rays stopped by a vessel crossing the CSF take the dura behind it."""
    error, angles = _trace(_slice(500.0, bone_hu=None, artery=True))
    behind = np.abs(np.angle(np.exp(1j * (angles - np.arctan2(-1.0, 7.3))))) < np.radians(6)
    assert behind.any()
    assert np.abs(error[behind]).max() < 1.0, np.round(error[behind], 2)
    assert np.median(np.abs(error)) < 0.3, np.round(error, 2)


def test_inward_notch_does_not_shape_the_lobe_trim() -> None:
    """The lobe trim (pipeline.myelogram.ct_sac) leaves a notch (an artery crossing the dura) as it is, and
    a notch does not pull the smooth outline in: a lobe elsewhere is trimmed back onto the true outline."""
    angles = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    radii = 8.0 + 1.5 * np.cos(angles)
    radii[36:40] = 3.5
    assert np.allclose(smooth_sac_radii_mm(angles, radii), radii)
    lobe = radii.copy()
    lobe[10:14] += 5.0
    assert np.allclose(smooth_sac_radii_mm(angles, lobe)[10:14], radii[10:14], atol=0.2)


def test_dark_noise_blob_at_the_start_does_not_set_the_cord_level() -> None:
    """A dark blob of noise (-100 HU on the five pixels round the start) where the rays start: the cord
    level is the disc's, not the blob's, so the rays leave the cord at the CSF ring, not at the blob's edge
    (the rays' samples crowd near their origin; counted unweighted, 4 of these 6 draws failed)."""
    x, y = _grid_mm()
    blob = np.hypot(x - CENTRE_MM[0], y - CENTRE_MM[1]) <= 0.5
    for seed in range(6):
        image = _slice(500.0, bone_hu=None, seed=seed)
        image[blob] -= 100.0
        outline = trace_outline(
            ndimage.gaussian_filter(image, 1.0), SPACING, CENTRE_MM, MIN_STEP_HU, BONE_LEVEL_HU, image
        )
        truth = _ray_to_ellipse(outline.center_mm, outline.angles, CENTRE_MM, CORD_SEMI_MM)
        error = outline.cord_radius_mm - truth
        assert np.median(np.abs(error)) < 0.4, (seed, np.round(error, 2))


THIN_CORD_CENTRE_MM = np.array([30.0, 30.0])
THIN_CORD_SEMI_MM = np.array([6.5, 4.5])
THIN_SAC_CENTRE_MM = np.array([30.0, 31.5])
THIN_SAC_SEMI_MM = np.array([9.5, 7.5])


def _scanned_slice(seed: int, pixel_mm: float = 0.8, blur_sigma_mm: float = 0.6) -> np.ndarray:
    """A cord in a sac whose CSF is 1.5 mm thick ventrally and 4.5 mm dorsally, contrast layered 30 % denser
    dorsally, drawn on a 0.1 mm grid, blurred, averaged into ``pixel_mm`` pixels (partial volume) and noisy.
    Pixel i covers [i, i + 1) * pixel_mm, so its centre lies half a pixel past i * pixel_mm."""
    fine_mm = 0.1
    axis = np.arange(round(60.0 / fine_mm)) * fine_mm
    x, y = np.meshgrid(axis, axis, indexing="ij")
    cord = _ellipse_level(x, y, THIN_CORD_CENTRE_MM, THIN_CORD_SEMI_MM) <= 1.0
    sac = _ellipse_level(x, y, THIN_SAC_CENTRE_MM, THIN_SAC_SEMI_MM) <= 1.0
    ventral_mm = THIN_SAC_CENTRE_MM[1] - THIN_SAC_SEMI_MM[1]
    depth = np.clip((y - ventral_mm) / (2 * THIN_SAC_SEMI_MM[1]), 0.0, 1.0)
    image = np.full(x.shape, SOFT_HU)
    image[sac] = 600.0 * (0.85 + 0.3 * depth[sac])
    image[cord] = CORD_HU
    image = ndimage.gaussian_filter(image, blur_sigma_mm / fine_mm)
    block = round(pixel_mm / fine_mm)
    n = image.shape[0] // block
    image = image[: n * block, : n * block].reshape(n, block, n, block).mean(axis=(1, 3))
    rng = np.random.default_rng(seed)
    return image + ndimage.gaussian_filter(rng.normal(0.0, 30.0, image.shape), 0.5) * 2.0


def test_cord_edge_is_not_pulled_in_where_the_csf_ring_is_thin() -> None:
    """The blur keeps a thin ventral CSF layer below the contrast level, more so the thinner the layer: the
    level modelled through the blur (pipeline.myelogram._csf_level) keeps the pia on the cord's edge. Fitted
    to the samples as they were, the level tilted and fell ventrally, and the cord came out 0.25-0.33 mm
    small in median over these draws (0.36-0.42 mm ventrally); now within 0.2 (0.25 ventrally)."""
    pixel_mm = 0.8
    spacing = np.array([pixel_mm, pixel_mm])
    for seed in range(4):
        image = _scanned_slice(seed, pixel_mm)
        start_mm = THIN_CORD_CENTRE_MM - pixel_mm / 2  # in pixel-centre coordinates
        outline = trace_outline(
            ndimage.gaussian_filter(image, 0.5 / pixel_mm),
            spacing,
            start_mm,
            MIN_STEP_HU,
            BONE_LEVEL_HU,
            ndimage.gaussian_filter(image, 0.4 / pixel_mm),
        )
        centre = outline.center_mm + pixel_mm / 2
        cord_error = outline.cord_radius_mm - _ray_to_ellipse(
            centre, outline.angles, THIN_CORD_CENTRE_MM, THIN_CORD_SEMI_MM
        )
        sac_error = outline.sac_radius_mm - _ray_to_ellipse(
            centre, outline.angles, THIN_SAC_CENTRE_MM, THIN_SAC_SEMI_MM
        )
        ventral = np.sin(outline.angles) < -0.5
        context = (seed, np.round(cord_error, 2))
        assert abs(np.median(cord_error)) < 0.2, context
        assert abs(np.median(cord_error[ventral])) < 0.25, context
        assert abs(np.median(sac_error)) < 0.2, (seed, np.round(sac_error, 2))
