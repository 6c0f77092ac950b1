"""Anatomical frame: left, posterior and superior axes of the patient's own upper cervical spine.

Planning must not depend on how the head lies in the scanner (one reference patient turned his head during
the procedure, Shepherd et al. AJNR 2017). The frame is built from anatomy only:

* superior: the cord centerline's direction (a straight-line fit over ±``TANGENT_HALF_LENGTH_MM``);
* posterior: from the dens (C2's anterior midline column) to the cord centre, made perpendicular to
  superior; before the dens is known, the cord's minor axis signed by the image's posterior direction;
* left: posterior × superior, which is the patient's left in a right-handed LPS system.

The frame is right-handed and orthonormal, so coordinates in it are the patient's (x left, y posterior,
z superior), the same convention as DICOM LPS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        What fixed the posterior axis: ``"dens"`` (C2 anatomy) or ``"cord_shape"``.
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
