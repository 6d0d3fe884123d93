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
import sys
import types
from typing import Any

from .errors import (
    DesignError as DesignError,
)
from .errors import (
    DisclosureError as DisclosureError,
)
from .errors import (
    EstimationError as EstimationError,
)
from .errors import (
    PerceptionError as PerceptionError,
)
from .errors import (
    QuestionnaireError as QuestionnaireError,
)
from .errors import (
    WaveValidationError as WaveValidationError,
)
from .errors import (
    WeightingError as WeightingError,
)

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
    "Questionnaire": "perception.questionnaire",
    "load_questionnaire": "perception.questionnaire",
    "questionnaire_path": "perception.simulate",
    "ValidationReport": "perception.schema",
    "validate": "perception.schema",
    "read_wave": "perception.io",
    "recode_missing": "perception.schema",
    "demo_survey": "perception.simulate",
    "DemoSurvey": "perception.simulate",
    # 2. designs
    "SurveyDesign": "perception.design",
    "ReplicateDesign": "perception.design",
    # 3. estimates
    "mean": "perception.estimate",
    "total": "perception.estimate",
    "ratio": "perception.estimate",
    "proportion": "perception.estimate",
    "quantile": "perception.estimate",
    "vcov": "perception.estimate",
    # 4. models, tests, contrasts
    "glm": "perception.models",
    "GLMResult": "perception.models",
    "chisq": "perception.tests_design",
    "ChisqResult": "perception.tests_design",
    "contrast": "perception.contrast",
    "adjust_pvalues": "perception.contrast",
    "ttest": "perception.survey.group_tests",
    "ranktest": "perception.survey.group_tests",
    "impute": "perception.analysis.imputation",
    "ImputedWaves": "perception.analysis.imputation",
    "mi_combine": "perception.analysis.rubin",
    # 5. weighting
    "poststratify": "perception.weighting",
    "rake": "perception.weighting",
    "calibrate": "perception.weighting",
    "trim_weights": "perception.weighting",
    "adjust_nonresponse": "perception.weighting",
    "weight_diagnostics": "perception.weighting",
    "read_margins": "perception.weighting",
    "PopulationMargins": "perception.weighting",
    # 6. before and after
    "change": "perception.change",
    "did": "perception.change",
    "DiDResult": "perception.change",
    "attrition": "perception.change",
    "icc": "perception.power",
    "mde": "perception.power",
    "sample_size": "perception.power",
    # 7. scales and indices
    "likert": "perception.indices",
    "top_box": "perception.indices",
    "top_box_scores": "perception.indices",
    "index": "perception.indices",
    "index_scores": "perception.indices",
    "cronbach_alpha": "perception.indices",
    "item_nonresponse": "perception.indices",
    # data larger than memory: per-PSU totals from Parquet batches or Dask partitions
    "mean_from_parquet": "perception.chunked",
    "total_from_parquet": "perception.chunked",
    "mean_from_dask": "perception.chunked",
    "total_from_dask": "perception.chunked",
    # 8. files and protection
    "questionnaire_from_xlsform": "perception.xlsform",
    "disclosure_check": "perception.privacy",
    "suppress_small_cells": "perception.privacy",
    "protect_table": "perception.privacy",
    "drop_pii": "perception.privacy",
    "hash_pii": "perception.privacy",
    "k_anonymity": "perception.privacy",
    "anonymise_wave": "perception.privacy",
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


class _Facade(types.ModuleType):
    """The package module: keeps a public function bound when its namesake submodule loads.

    Importing ``perception.change`` (or ``perception.contrast``) makes Python bind the
    submodule to the package attribute of the same name, which would hide the public
    function ``pc.change``; bind the function instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade
