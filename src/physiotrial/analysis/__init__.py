"""Statistical analysis of a locked trial: DataFrames in, fixed-schema results out; no store."""
