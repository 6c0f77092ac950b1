"""cordotomy-pipeline: imaging for CT-guided percutaneous C1-2 cordotomy (research software)."""

__version__ = "0.1.0"
