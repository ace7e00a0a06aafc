"""Synthetic participants and trajectories of the reference trial, and the driver that runs them
through the real services (for the demo, tests and design-time simulation)."""


def study_seed(seed: int) -> str:
    """The randomisation seed of a simulated study, fixed by the simulation seed, so that the
    same ``--seed`` gives the same allocations in ``physiotrial simulate`` and ``demo``."""
    return f"physiotrial-simulation-{seed}"
