"""The trial report (HTML and PDF) drawn from analysis results; never reads the store."""
