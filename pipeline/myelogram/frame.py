"""Anatomical frame: left, posterior and superior axes of the patient's own upper cervical spine.

Planning must not depend on how the head lies in the scanner (one reference patient turned his head during
the procedure, Shepherd et al. AJNR 2017). The frame is built from anatomy only:

* superior: the cord centerline's direction (a straight-line fit over ±``TANGENT_HALF_LENGTH_MM``);
* posterior: the short in-plane axis of C1 (a symmetric ring much wider than deep), signed from the
  dens towards the cord; failing that, from the dens to the cord centre; on MRI without C1/C2, the
  cord's own short axis signed by the image's posterior direction;
* left: posterior × superior, which is the patient's left in a right-handed LPS system.

The frame is right-handed and orthonormal, so coordinates in it are the patient's (x left, y posterior,
z superior), the same convention as DICOM LPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.myelogram.cord import CordSegmentation

TANGENT_HALF_LENGTH_MM = 12.0


@dataclass(frozen=True)
class AnatomicalFrame:
    """Orthonormal patient frame at one point (LPS mm).

    Attributes
    ----------
    origin_lps_mm : (3,) ndarray
        Cord centre on the planning level (or the reference point the frame was built at).
    left_lps, posterior_lps, superior_lps : (3,) ndarray
        Unit axes in LPS.
    posterior_source : str
        What fixed the posterior axis: ``"atlas"`` (C1's symmetry axis), ``"dens"`` (dens to cord) or
        ``"cord_shape"``.
    """

    origin_lps_mm: np.ndarray
    left_lps: np.ndarray
    posterior_lps: np.ndarray
    superior_lps: np.ndarray
    posterior_source: str

    @property
    def rotation(self) -> np.ndarray:
        """3x3 matrix whose columns are the left, posterior and superior axes (frame -> LPS)."""
        return np.column_stack([self.left_lps, self.posterior_lps, self.superior_lps])

    def to_frame(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """LPS mm points ``(..., 3)`` to frame coordinates (x left, y posterior, z superior; mm)."""
        return (np.asarray(points_lps_mm, dtype=np.float64) - self.origin_lps_mm) @ self.rotation

    def to_lps(self, points_frame_mm: np.ndarray) -> np.ndarray:
        """Frame coordinates ``(..., 3)`` back to LPS mm."""
        return np.asarray(points_frame_mm, dtype=np.float64) @ self.rotation.T + self.origin_lps_mm

    def to_json(self) -> dict[str, object]:
        return {
            "origin_lps_mm": [float(v) for v in self.origin_lps_mm],
            "left_lps": [float(v) for v in self.left_lps],
            "posterior_lps": [float(v) for v in self.posterior_lps],
            "superior_lps": [float(v) for v in self.superior_lps],
            "posterior_source": self.posterior_source,
        }


def centerline_direction(centerline_lps_mm: np.ndarray, near_lps_mm: np.ndarray | None = None) -> np.ndarray:
    """Unit superior direction of the cord: principal axis of the centerline points near a point.

    A straight-line fit over about 24 mm of cord averages out the per-slice centroid jitter (each slice's
    centroid moves by a fraction of a voxel) while following the cervical curvature.
    """
    points = np.asarray(centerline_lps_mm, dtype=np.float64)
    if near_lps_mm is not None and len(points) > 4:
        distance = np.linalg.norm(points - near_lps_mm, axis=1)
        nearby = points[distance <= TANGENT_HALF_LENGTH_MM]
        if len(nearby) >= 3:
            points = nearby
    if len(points) < 2:
        return np.array([0.0, 0.0, 1.0])
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    direction = vt[0]
    return direction if direction[2] >= 0 else -direction


def build_frame(
    origin_lps_mm: np.ndarray,
    superior_lps: np.ndarray,
    posterior_hint_lps: np.ndarray,
    posterior_source: str,
) -> AnatomicalFrame:
    """Right-handed frame from a superior axis and a rough posterior direction (made orthogonal)."""
    superior = np.asarray(superior_lps, dtype=np.float64)
    superior = superior / np.linalg.norm(superior)
    hint = np.asarray(posterior_hint_lps, dtype=np.float64)
    posterior = hint - np.dot(hint, superior) * superior
    norm = np.linalg.norm(posterior)
    if norm < 1e-6:
        fallback = np.array([0.0, 1.0, 0.0])
        posterior = fallback - np.dot(fallback, superior) * superior
        norm = np.linalg.norm(posterior)
    posterior = posterior / norm
    left = np.cross(posterior, superior)
    return AnatomicalFrame(
        origin_lps_mm=np.asarray(origin_lps_mm, dtype=np.float64),
        left_lps=left / np.linalg.norm(left),
        posterior_lps=posterior,
        superior_lps=superior,
        posterior_source=posterior_source,
    )


def cord_shape_posterior(outline_lps_mm: np.ndarray, superior_lps: np.ndarray) -> np.ndarray:
    """Posterior direction from one cord outline: its minor (AP) axis, signed towards image posterior.

    The cord is wider than deep (transverse 12.4 vs AP 8.8 mm at C2, Sherman et al. AJNR 1990), so its
    short axis is anteroposterior whatever the head's rotation; only the sign needs the image (+P).
    """
    points = np.asarray(outline_lps_mm, dtype=np.float64)
    centred = points - points.mean(axis=0)
    centred = centred - np.outer(centred @ superior_lps, superior_lps)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    minor = vt[1]
    return minor if minor[1] >= 0 else -minor


def turned_posterior(reference: np.ndarray, superior_lps: np.ndarray, angle_rad: float) -> np.ndarray:
    """``reference`` (a unit vector across ``superior_lps``) turned by ``angle_rad`` about ``superior_lps``,
    towards ``superior_lps x reference``, and signed towards image posterior (+P)."""
    direction = np.cos(angle_rad) * reference + np.sin(angle_rad) * np.cross(superior_lps, reference)
    return direction if direction[1] >= 0 else -direction


def cord_posterior(cord: CordSegmentation, superior: np.ndarray) -> np.ndarray:
    """Posterior direction of the cord: the median short axis of its traced cross-sections, signed to +P.

    Each outline's short axis is a line, not a direction. A near-round outline has no short axis to speak
    of, and an outline that took in CSF beside the cord points across; both pulled the mean of the axes
    off (family draws 31, 37 and 76: 16, 8 and 12 degrees; the median below: 4, 3 and 4). The median angle
    about the superior axis, taken around the axial mean so that no head rotation splits the angles,
    ignores them. A round cord has no axis at all (draw 74, 9.9 x 10.1 mm: 15 and 32 degrees off), so the
    vertebra search takes the bone's mirror plane where bone is in view
    (:func:`pipeline.myelogram.bone.segment_vertebrae`).
    """
    image_posterior = np.array([0.0, 1.0, 0.0])
    reference = image_posterior - np.dot(image_posterior, superior) * superior
    reference /= np.linalg.norm(reference)
    lateral = np.cross(superior, reference)
    angles = []
    for section in cord.cross_sections:
        if section.interpolated:
            continue
        minor = cord_shape_posterior(section.cord_outline_lps_mm, superior)
        angles.append(np.arctan2(minor @ lateral, minor @ reference))
    if not angles:
        return reference
    doubled = 2.0 * np.asarray(angles)
    centre = 0.5 * np.arctan2(np.sin(doubled).sum(), np.cos(doubled).sum())
    around = (np.asarray(angles) - centre + np.pi / 2) % np.pi - np.pi / 2
    # Axes nearer the perpendicular than the median (over 45 degrees off) say nothing of the true axis
    # but would still shift the median's rank: the median of the rest.
    first = float(np.median(around))
    angle = centre + float(np.median(around[np.abs(around - first) <= np.pi / 4]))
    return turned_posterior(reference, superior, angle)
