"""Pure trial logic: protocol, eligibility, randomisation, schedule, instruments."""
