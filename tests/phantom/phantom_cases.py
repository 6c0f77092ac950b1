"""Cached phantom generation shared by the phantom test modules (each case is generated once per run).

A plain helper module, not a conftest: test folders have no ``__init__.py``, so a second ``conftest``
module would shadow the root one that other tests import ``PROJECT_ROOT`` from.
"""

from __future__ import annotations

from functools import cache

from pipeline.phantom import CtCase, Study, make_ct_case, make_study


@cache
def ct_case(variant: str, vascular: str | None = None, seed: int = 0) -> CtCase:
    """CT case of a variant, memoised."""
    return make_ct_case(variant, seed=seed, vascular=vascular)


@cache
def study_in_memory(variant: str, seed: int, vascular: str) -> Study:
    """Study of a variant, memoised."""
    return make_study(variant=variant, seed=seed, vascular=vascular)
