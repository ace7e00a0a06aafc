"""A mixed model for repeated measures (MMRM), our own and validated against R.

``fit_mmrm`` fits fixed effects from an R formula with errors correlated across visits (eight
structures, optionally one covariance per arm) by REML or ML; the fit gives least-squares means and
arm differences with Kenward–Roger or Satterthwaite degrees of freedom. ``fit_batch`` fits many
simulated trials of one design at once. Tests compare every number with R (tests/oracle/mmrm.R).
"""

from physiotrial.analysis.mmrm.batched import fit_batch
from physiotrial.analysis.mmrm.covariance import STRUCTURES
from physiotrial.analysis.mmrm.fit import MmrmFit, fit_mmrm

__all__ = ["STRUCTURES", "MmrmFit", "fit_batch", "fit_mmrm"]
