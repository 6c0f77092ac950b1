"""The page prefaulter must never change what the array holds, whatever the writers did first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.ingest.header import Header
from pipeline.ingest.prefault import EarlyOutput, Prefault


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


def _header(series: str, rows: int = 256, frames: int | None = None, *, ct_hu: bool = False) -> Header:
    """An MR-like header, or with ``ct_hu`` a CT one whose HU are whole (16 bits, slope 1, intercept -1024)."""
    return Header(
        path=Path(f"/x/{series}"),
        series_uid=series,
        rows=rows,
        columns=256,
        number_of_frames=frames,
        modality="CT" if ct_hu else "MR",
        bits_allocated=16,
        rescale_slope=1.0 if ct_hu else 0.5,
        rescale_intercept=-1024.0 if ct_hu else 0.0,
    )


F32, I16 = np.dtype(np.float32), np.dtype(np.int16)
# (headers seen during the scan, shape and dtype the loader asks for, whether the early array is handed over)
EARLY_CASES = {
    "one-series": ([_header("a")] * 3, (128, 256, 256), F32, True),
    "ct-whole-hu": ([_header("a", ct_hu=True)] * 3, (128, 256, 256), I16, True),
    "other-dtype-needed": ([_header("a", ct_hu=True)] * 3, (128, 256, 256), F32, False),
    "other-shape-needed": ([_header("a")] * 3, (127, 256, 256), F32, False),
    "second-series": ([_header("a"), _header("b")], (128, 256, 256), F32, False),
    "other-size": ([_header("a"), _header("a", rows=128)], (128, 256, 256), F32, False),
    "multi-frame": ([_header("a", frames=128)], (128, 256, 256), F32, False),
}


@pytest.mark.parametrize("case", list(EARLY_CASES), ids=list(EARLY_CASES))
def test_early_output_only_when_the_guess_holds(case: str) -> None:
    headers, shape, dtype, handed = EARLY_CASES[case]
    early = EarlyOutput()
    early.expect(128)  # 128 x 256 x 256 float32 = 32 MB (int16: 16 MB)
    for header in headers:
        early.see(header)
    array = early.take(shape, dtype)
    assert (array is not None) == handed
    if array is not None:
        assert array.shape == shape
        assert array.dtype == dtype
        assert array.flags.c_contiguous
        array[:] = 5.0  # writable, and ours alone: the helper has stopped
        assert float(array.min()) == float(array.max()) == 5.0
    assert early.take(shape, dtype) is None  # handed over at most once


def test_early_output_refuses_huge_guesses() -> None:
    early = EarlyOutput(max_bytes=1 << 20)
    early.expect(64)
    early.see(_header("a"))
    assert early.take((128, 256, 256), F32) is None
