"""perception: design-based analysis of community perception surveys.

Import as ``import perception as pc``. The public names below are loaded on first use,
so ``import perception`` stays fast and plotting libraries load only when a figure is drawn.

Examples
--------
>>> import perception as pc
>>> demo = pc.demo_survey(seed=1)        # the built-in Central Mali example
>>> t = pc.proportion(demo.design(), "sex", by="wave")
>>> t[["wave", "category", "estimate", "se"]].round(3)
   wave  category  estimate     se
0     0         1     0.482  0.009
1     0         2     0.518  0.009
2     1         1     0.482  0.009
3     1         2     0.518  0.009
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import DesignError as DesignError
from .errors import DisclosureError as DisclosureError
from .errors import EstimationError as EstimationError
from .errors import PerceptionError as PerceptionError
from .errors import QuestionnaireError as QuestionnaireError
from .errors import SamplingError as SamplingError
from .errors import WaveValidationError as WaveValidationError
from .errors import WeightingError as WeightingError

#: the distribution that installs this package (not ``perception``: that name on the
#: package index is another project); its pyproject.toml holds the one version
_DISTRIBUTION = "perception-surveys"


def _version() -> str:
    """The installed distribution's version (``pc.__version__``), read on first use."""
    from importlib import metadata

    try:
        return metadata.version(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise PerceptionError(
            f"{_DISTRIBUTION} is not installed, so the version of perception is unknown: "
            "install it (pip install -e . in the repository) rather than putting the "
            "source folder on PYTHONPATH"
        ) from None

# public name -> module that defines it (the API contract: docs/api.md)
_EXPORTS: dict[str, str] = {
    # 1. questionnaires and waves
    "Questionnaire": "perception.questionnaire.model",
    "load_questionnaire": "perception.questionnaire.loading",
    "questionnaire_path": "perception.demo.simulator",
    "ValidationReport": "perception.waves.validation",
    "validate": "perception.waves.validation",
    "read_wave": "perception.waves.reading",
    "recode_missing": "perception.waves.validation",
    "demo_survey": "perception.demo.simulator",
    "DemoSurvey": "perception.demo.simulator",
    # 2. designs
    "SurveyDesign": "perception.survey.design",
    "ReplicateDesign": "perception.survey.design",
    # 3. estimates
    "mean": "perception.survey.estimators",
    "total": "perception.survey.estimators",
    "ratio": "perception.survey.estimators",
    "proportion": "perception.survey.estimators",
    "quantile": "perception.survey.quantiles",
    "vcov": "perception.survey.covariance",
    # 4. models, tests, contrasts
    "glm": "perception.survey.models",
    "GLMResult": "perception.survey.models",
    "chisq": "perception.survey.chisquare",
    "ChisqResult": "perception.survey.chisquare",
    "contrast": "perception.survey.contrasts",
    "adjust_pvalues": "perception.survey.contrasts",
    # 5. weighting
    "poststratify": "perception.survey.weighting",
    "rake": "perception.survey.weighting",
    "calibrate": "perception.survey.weighting",
    "trim_weights": "perception.survey.weighting",
    "adjust_nonresponse": "perception.survey.weighting",
    "weight_diagnostics": "perception.survey.weighting",
    "read_margins": "perception.survey.weighting",
    "PopulationMargins": "perception.survey.weighting",
    # 6. before and after
    "change": "perception.analysis.changes",
    "did": "perception.analysis.diff_in_diff",
    "DiDResult": "perception.analysis.diff_in_diff",
    "attrition": "perception.analysis.panel",
    "icc": "perception.analysis.power",
    "mde": "perception.analysis.power",
    "sample_size": "perception.analysis.power",
    # 7. scales and indices
    "likert": "perception.analysis.scales",
    "top_box": "perception.analysis.scales",
    "top_box_scores": "perception.analysis.scales",
    "index": "perception.analysis.scales",
    "index_scores": "perception.analysis.scales",
    "cronbach_alpha": "perception.analysis.scales",
    "item_nonresponse": "perception.analysis.scales",
    # data larger than memory: per-PSU totals from Parquet batches or Dask partitions
    "mean_from_parquet": "perception.survey.outofcore",
    "total_from_parquet": "perception.survey.outofcore",
    "mean_from_dask": "perception.survey.outofcore",
    "total_from_dask": "perception.survey.outofcore",
    # 8. files and protection
    "questionnaire_from_xlsform": "perception.questionnaire.xlsform",
    "disclosure_check": "perception.disclosure.suppression",
    "suppress_small_cells": "perception.disclosure.suppression",
    "protect_table": "perception.disclosure.suppression",
    "drop_pii": "perception.disclosure.pii",
    "hash_pii": "perception.disclosure.pii",
    "k_anonymity": "perception.disclosure.anonymise",
    "anonymise_wave": "perception.disclosure.anonymise",
    # 9. small areas
    "fay_herriot": "perception.analysis.small_area",
    "FayHerriotResult": "perception.analysis.small_area",
    # 10. sampling: allocation across strata, PPS selection of villages
    "allocate": "perception.sampling.allocation",
    "Allocation": "perception.sampling.allocation",
    "select_pps": "perception.sampling.selection",
    "joint_inclusion": "perception.sampling.selection",
    "sampford_joint": "perception.sampling.sampford",
    "demo_village_frame": "perception.sampling.demo_frame",
}

# subpackages reachable as attributes (``pc.datasets``), imported on first use
_SUBMODULES: frozenset[str] = frozenset({"datasets"})

__all__ = sorted(
    [
        *_EXPORTS,
        *_SUBMODULES,
        "PerceptionError",
        "QuestionnaireError",
        "WaveValidationError",
        "DesignError",
        "EstimationError",
        "WeightingError",
        "DisclosureError",
        "SamplingError",
    ]
)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'perception' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

