"""Designs and everything computed from them: replicate factors, the variance engine,
estimators, intervals, the keyed covariance of result tables, models, the chi-square
test, contrasts, weighting and calibration, and totals of data larger than memory.

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "SurveyDesign": "design",
    "ReplicateDesign": "design",
    "mean": "estimators",
    "total": "estimators",
    "ratio": "estimators",
    "proportion": "estimators",
    "quantile": "quantiles",
    "vcov": "covariance",
    "glm": "models",
    "GLMResult": "models",
    "olr": "ordinal",
    "OLRResult": "ordinal",
    "wald_test": "term_tests",
    "predictive_margins": "effects",
    "marginal_effects": "effects",
    "chisq": "chisquare",
    "ChisqResult": "chisquare",
    "contrast": "contrasts",
    "adjust_pvalues": "contrasts",
    "ttest": "group_tests",
    "ranktest": "group_tests",
    "poststratify": "weighting",
    "rake": "weighting",
    "calibrate": "weighting",
    "trim_weights": "weighting",
    "adjust_nonresponse": "weighting",
    "weight_diagnostics": "weighting",
    "read_margins": "weighting",
    "PopulationMargins": "weighting",
    "mean_from_parquet": "outofcore",
    "total_from_parquet": "outofcore",
    "mean_from_dask": "outofcore",
    "total_from_dask": "outofcore",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
    "with_frame": "dask_design",
    "prepare_partitions": "dask_labelling",
    "option_outcomes": "dask_labelling",
    "attach": "attached",
    "stack_tables": "attached",
    "check_columns": "checks",
    "check_design": "checks",
    "check_variables": "checks",
    "column_names": "checks",
    "is_design": "checks",
    "numeric_values": "checks",
    "attach_covariance": "covariance",
    "covariance_of": "covariance",
    "active_rows": "engine",
    "domains": "engine",
    "distinct_values": "dask_domains",
    "flagged_rows": "dask_domains",
    "domain_groups": "dask_domains",
    "with_degf": "dask_domains",
    "level_key": "margins",
    "family": "families",
    "fit_model": "fitting",
    "fit_weights": "fitting",
    "aliased": "fitting",
    "model_columns": "formulas",
    "model_frame": "formulas",
    "influence_vcov": "fitting",
    "outcome_values": "models",
    "coefficient_table": "models",
    "replicate_vcov": "variance",
    "check_formula": "formulas",
    "formula_environment": "formulas",
    "patsy_ready": "formulas",
    "DIAGNOSTIC_COLUMNS": "weighting",
    "prepare": "valid_values",
    "LABELLED_COLUMNS": "valid_values",
    "valid_frame": "valid_values",
    "is_select_multiple": "multiple_choice",
    "option_design": "multiple_choice",
    "relabel_options": "multiple_choice",
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
