"""Sampling: allocation of a sample across strata and PPS selection of villages."""
