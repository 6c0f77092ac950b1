"""Fixtures of the trajectory tests; the cached cases live in ``_trajectory_cases``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _trajectory_cases import plan_for

from pipeline.myelogram import MyelogramResult
from pipeline.phantom.ct import CtCase
from pipeline.trajectory import Plan


@pytest.fixture(scope="session")
def planned() -> Callable[..., tuple[CtCase, MyelogramResult, Plan]]:
    """``planned(variant, vascular, pain_side, pain_region, seeds=None)`` -> (case, myelogram, plan)."""
    return plan_for
