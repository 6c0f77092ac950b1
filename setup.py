"""Build hook: install the repository's ``seeds/`` folder inside the package as ``pipeline/_seeds``.

All metadata lives in pyproject.toml. ``seeds/`` sits at the repository root (DESIGN.md §2) where people
edit and cite it; ``pipeline.seeds`` reads it from there in a source checkout or an editable install, and
from ``pipeline/_seeds`` after a regular installation, which this hook provides.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithSeeds(build_py):
    """``build_py`` that also copies ``seeds/*.yaml`` into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "pipeline" / "_seeds"
        self.mkpath(str(target))
        for source in sorted(Path(__file__).resolve().parent.joinpath("seeds").glob("*.yaml")):
            self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithSeeds})
