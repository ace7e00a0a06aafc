"""Clinic pages' pooled work: every patient's progress (dashboard caseload, sessions to response).

The clinic dashboard and the sessions-to-response curve read every patient's progress. The named
baseline is the previous version of ``analysis/clinic_progress.py`` (commit ``fd506cb``, which
counted the sessions before each assessment with a pandas filter per outcome and assessment),
loaded from git into this process beside the current module. Both must give the same progress
for every patient; the script stops if they do not. Without git history the baseline is skipped.

A simulated knee clinic (``simulate.clinic``) of each size is written to a temporary SQLite
study; the times are of the analysis over frames already read, best of three.

    .venv/bin/python benchmarks/clinic.py [patients ...]     (default 60 240)
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

from physiotrial.analysis import clinic_progress
from physiotrial.analysis.dataset import TrialFrames
from physiotrial.core.protocol import Protocol
from physiotrial.services.analysis import study_frames
from physiotrial.services.context import acting
from physiotrial.services.session import open_study
from physiotrial.services.study import init_study, study_protocol
from physiotrial.simulate.clinic import simulate_clinic

PREVIOUS = "fd506cb"
MODULE = "src/physiotrial/analysis/clinic_progress.py"


def previous_module() -> types.ModuleType | None:
    """The module as it was at :data:`PREVIOUS`, or None where git or the commit is missing."""
    root = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{PREVIOUS}:{MODULE}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("clinic_progress_previous")
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, f"{PREVIOUS}:{MODULE}", "exec"), module.__dict__)
    return module


def everyone(module: types.ModuleType, frames: TrialFrames, protocol: Protocol) -> list[object]:
    codes = [str(code) for code in frames.participants["study_code"]]
    return [module.patient_progress(frames, protocol, code) for code in codes]


def best(run: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def clinic_frames(directory: Path, patients: int) -> tuple[TrialFrames, Protocol]:
    url = f"sqlite:///{directory / 'clinic.sqlite'}"
    init_study(url, "knee-oa-clinic", admin="dm", admin_name="Data manager", seed="bench")
    store = open_study(url)
    try:
        with store.read() as connection:
            protocol = study_protocol(connection)
        simulate_clinic(store, protocol, patients, seed=11, admin="dm")
        with store.read() as connection:
            return study_frames(connection, acting(connection, "dm"), protocol), protocol
    finally:
        store.close()


def main(sizes: list[int]) -> None:
    previous = previous_module()
    if previous is None:
        print(f"baseline {PREVIOUS} not available (no git history): current times only")
    print(f"{'patients':>8} {'previous':>10} {'current':>9} {'ratio':>7}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as scratch:
            frames, protocol = clinic_frames(Path(scratch), size)
        n = len(frames.participants)
        now = functools.partial(everyone, clinic_progress, frames, protocol)
        new = best(now)
        if previous is None:
            print(f"{n:>8} {'—':>10} {new:>7.3f} s")
            continue
        before = functools.partial(everyone, previous, frames, protocol)
        if repr(before()) != repr(now()):
            sys.exit("the current and the previous version disagree")
        old = best(before)
        print(f"{n:>8} {old:>8.3f} s {new:>7.3f} s {old / new:>6.1f}×")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [60, 240])
