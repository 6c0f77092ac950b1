"""The page prefaulter must never change what the array holds, whatever the writers did first."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ingest.prefault import Prefault


@pytest.mark.parametrize("parts", [1, 2, 3], ids=["one-writer", "two-writers", "three-writers"])
def test_prefault_keeps_written_values(parts: int) -> None:
    rng = np.random.default_rng(parts)
    out = np.empty((64, 256, 256), dtype=np.float32)  # 16 MB: large enough for the helper to run
    written = rng.normal(size=(32, 256, 256)).astype(np.float32)
    out[::2] = written  # written before the helper starts: must survive it
    step = out.nbytes // parts
    ranges = [(i * step, out.nbytes if i == parts - 1 else (i + 1) * step) for i in range(parts)]
    with Prefault(out, ranges):
        out[1::2] = written + 1.0  # written while it runs
    np.testing.assert_array_equal(out[::2], written)
    np.testing.assert_array_equal(out[1::2], written + 1.0)


def test_prefault_ignores_small_and_strided_arrays() -> None:
    small = np.zeros((4, 4), dtype=np.float32)
    strided = np.zeros((64, 256, 512), dtype=np.float32)[:, :, ::2]
    for array in (small, strided):
        before = array.copy()
        with Prefault(array, [(0, array.nbytes)]):
            pass
        np.testing.assert_array_equal(array, before)
