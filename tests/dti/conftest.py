"""DWI phantoms for the DTI tests.

The phantom's default grid (0.8 mm in-plane, seeds/diffusion.yaml) gives a lesion of only ~12 pure
voxels, where one voxel more or less moves a Dice by ~0.07 and a mean by a few percent of noise. Tests of
accuracy therefore also use a 0.4 mm in-plane grid (same anatomy, same SNR 30), where the numbers measure
the method rather than the pixel lottery; see the module docstrings of the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.phantom.dwi import DwiPhantom, make_dwi_phantom
from pipeline.seeds import Seeds, load_seeds

FINE_IN_PLANE_MM = 0.4


@pytest.fixture(scope="session")
def fine_seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    path = Path(tmp_path_factory.mktemp("seeds")) / "fine.yaml"
    path.write_text(f"diffusion:\n  dwi_protocol:\n    in_plane_mm: {FINE_IN_PLANE_MM}\n", encoding="utf-8")
    return load_seeds(path)


@pytest.fixture(scope="session")
def fine_phantom(fine_seeds: Seeds) -> Callable[..., DwiPhantom]:
    """Factory of 0.4 mm phantoms (80 x 80 x 10), same field of view as the default one."""

    def make(**kwargs: object) -> DwiPhantom:
        return make_dwi_phantom(matrix=(80, 80, 10), seeds=fine_seeds, **kwargs)  # type: ignore[arg-type]

    return make
