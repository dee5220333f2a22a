"""mamori: the CSA secure container architecture, checked and enforced."""

__version__ = "0.1.0"
