"""One module per instrument family; each exports ``INSTRUMENTS``."""
