"""What one image says about its diffusion weighting, whichever attribute it came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNWEIGHTED_B_S_MM2 = 50.0
"""Below this b-value a volume needs no gradient direction: it is a (near) non-diffusion-weighted
volume (dipy's b0 threshold; UIH writes its "b0" as b=1.25 with a zero vector, Philips b=0.001-0.004)."""


@dataclass(frozen=True)
class Encoding:
    """b-value and gradient direction of one image, and where they were read.

    ``gradient_lps`` is a direction in patient LPS (any length; zero or ``None`` when not given).
    ``derived`` marks a computed isotropic/trace/ADC image stored among the DWI volumes: it is not a
    diffusion-encoded volume and is left out, as dcm2niix leaves it out of the .bval/.bvec.
    """

    b_value_s_mm2: float | None
    gradient_lps: tuple[float, float, float] | None
    source: str
    derived: bool = False

    @property
    def has_direction(self) -> bool:
        return self.gradient_lps is not None and float(np.linalg.norm(self.gradient_lps)) > 1e-6

    @property
    def complete(self) -> bool:
        """Enough to place the image: a b-value and, if diffusion-weighted, a direction (or derived)."""
        if self.b_value_s_mm2 is None:
            return False
        return self.derived or self.has_direction or self.b_value_s_mm2 < UNWEIGHTED_B_S_MM2


def lps_tuple(vector: np.ndarray | tuple[float, ...]) -> tuple[float, float, float]:
    values = np.asarray(vector, dtype=np.float64)
    return (float(values[0]), float(values[1]), float(values[2]))
