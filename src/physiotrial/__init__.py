"""physiotrial: run, record, analyse and report sham-controlled physiotherapy trials."""

__version__ = "0.1.0"
