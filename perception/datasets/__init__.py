"""Example data sets bundled with perception: R ``survey``'s ``api`` data.

The Academic Performance Index (API) is computed for all California schools from the
standardised testing of their students. R's ``survey`` package ships the population of
schools with at least 100 students and several probability samples of it, and uses them
in its documentation and tests; perception's estimates are checked against R's on the same
data. Load one with :func:`load`, list them with :func:`names`.

Columns are R's, with dots turned into underscores (``sch.wide`` is ``sch_wide``,
``api.stu`` is ``api_stu``); R's factors are pandas Categoricals with R's levels in R's
order (``stype``: E, H, M; ``sch_wide``, ``comp_imp``, ``both``, ``awards``, ``yr_rnd``:
No, Yes); R's integers are ``int64`` (pandas ``Int64`` where R has NA), R's doubles
``float64`` and equal to R's bit for bit; text columns are strings.

Data sets
---------
apipop
    The population: 6,194 schools, 37 columns (``cds`` identifier, ``stype``
    Elementary/Middle/High, ``dnum`` district, ``api00``/``api99`` the API in 2000/1999,
    ``sch_wide`` met the school-wide growth target, ``meals``, ``ell``, ``mobility``,
    ``avg_ed``, ``enroll``, ``api_stu`` ... as R's ``?api`` describes them).
apisrs
    Simple random sample of 200 schools; ``pw`` weight, ``fpc`` population size (6,194).
    R: ``svydesign(id=~1, weights=~pw, fpc=~fpc, data=apisrs)``.
apistrat
    Sample stratified by school type ``stype`` (100 elementary, 50 middle, 50 high
    schools); ``pw`` weight, ``fpc`` stratum population size.
    R: ``svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat)``.
apiclus1
    Cluster sample of 15 school districts (``dnum``), every school of each: 183 schools;
    ``pw`` weight, ``fpc`` number of districts (757). R: ``svydesign(id=~dnum,
    weights=~pw, fpc=~fpc, data=apiclus1)``. As R's help says, the weights are those
    obtained from UCLA, not exactly 757/15.
apiclus2
    Two-stage cluster sample: 40 districts, then up to 5 schools in each (126 schools);
    ``fpc1`` number of districts (757), ``fpc2`` number of schools in the district, ``pw``
    weight. R: ``svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)``.
apiclus1_boot50
    apiclus1 with 50 bootstrap replicate weights ``rw1`` ... ``rw50`` (combined analysis
    weights): in each replicate the 15 districts were drawn 15 times with replacement and a
    school's weight is ``pw`` times the number of draws of its district. R:
    ``svrepdesign(data=apiclus1_boot50, repweights="rw[0-9]+", weights=~pw,
    type="bootstrap")``. Not part of R's ``data(api)``: built from apiclus1 by
    ``make_datasets.R`` (the draws are kept in ``apiclus1_boot50_draws.csv`` beside it).

Source
------
California Department of Education, Academic Performance Index (API), 1999 and 2000
(the programme ended in 2018; archive at https://www.cde.ca.gov/re/pr/api.asp), as
distributed with R's ``survey`` package (Thomas Lumley), ``data(api)``, which obtained them
from the survey sampling help pages of UCLA Academic Technology Services. Exported from R
4.2.2 with survey 4.1.1 by ``perception/datasets/make_datasets.R``.

Licence
-------
GPL-2 | GPL-3, the licence of R's ``survey`` package in which the data are distributed.

Examples
--------
>>> import perception as pc
>>> pc.datasets.names()
['apiclus1', 'apiclus1_boot50', 'apiclus2', 'apipop', 'apisrs', 'apistrat']
>>> api = pc.datasets.load("apistrat")
>>> api.shape
(200, 39)
"""

from __future__ import annotations

import importlib.resources
from typing import IO

import pandas as pd

from ..errors import PerceptionError

__all__ = ["load", "names"]

_DATA = "data"
_COLUMNS_FILE = "columns.csv"


def _open(file: str) -> IO[bytes]:
    return importlib.resources.files(__name__).joinpath(_DATA, file).open("rb")


def _columns() -> pd.DataFrame:
    """The column table written by make_datasets.R: data set, column, R's name and type."""
    with _open(_COLUMNS_FILE) as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def names() -> list[str]:
    """The names of the bundled data sets, sorted.

    Returns
    -------
    list of str
        The names ``load`` accepts, sorted.

    Examples
    --------
    >>> import perception as pc
    >>> pc.datasets.names()
    ['apiclus1', 'apiclus1_boot50', 'apiclus2', 'apipop', 'apisrs', 'apistrat']
    """
    return sorted(_columns()["dataset"].unique())


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set (R ``survey``'s ``api`` data) as a DataFrame.

    Each call reads the file again, so the frame is the caller's to change. The data sets,
    their columns, source (California Department of Education's Academic Performance
    Index, as distributed with R's ``survey`` package) and licence (GPL-2 | GPL-3) are
    described in ``perception.datasets``.

    Parameters
    ----------
    name : str
        One of ``names``: ``"apistrat"``, ``"apiclus1"``, ``"apiclus2"``, ``"apipop"``,
        ``"apisrs"`` or ``"apiclus1_boot50"``.

    Returns
    -------
    pandas.DataFrame
        R's rows and columns, dots in column names turned into underscores; factors as
        Categoricals with R's levels, integers as ``int64`` (``Int64`` where R has NA).

    Raises
    ------
    PerceptionError
        When ``name`` is not a bundled data set (the message lists them).

    Examples
    --------
    >>> import perception as pc
    >>> api = pc.datasets.load("apistrat")
    >>> api.shape
    (200, 39)
    >>> api["stype"].cat.categories.tolist()
    ['E', 'H', 'M']
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> pc.mean(d, "api00")[["variable", "estimate", "se"]].round(4)
      variable  estimate      se
    0    api00  662.2874  9.4089

    R: ``svymean(~api00, svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc,
    data=apistrat))`` gives 662.29 with SE 9.4089.
    """
    table = _columns()
    known = sorted(table["dataset"].unique())
    if name not in known:
        raise PerceptionError(
            f"unknown data set {name!r}; the bundled data sets are: {', '.join(known)} "
            "(see perception.datasets.names())"
        )
    columns = table[table["dataset"] == name]
    kinds = dict(zip(columns["column"], columns["r_type"], strict=True))
    dtypes = {
        column: {"integer": "Int64", "numeric": "float64"}.get(kind, "str")
        for column, kind in kinds.items()
    }
    with _open(f"{name}.csv.gz") as fh:
        # R wrote NA as an empty field; no text of R's data is empty, so only "" is missing
        data = pd.read_csv(fh, compression="gzip", dtype=dtypes, keep_default_na=False,
                           na_values=[""])
    if list(data.columns) != list(kinds):
        raise PerceptionError(
            f"the bundled file {name}.csv.gz does not hold the columns of {_COLUMNS_FILE}; "
            "reinstall perception"
        )
    for column, kind, levels in columns[["column", "r_type", "levels"]].itertuples(
        index=False
    ):
        if kind == "factor":
            categories = pd.CategoricalDtype(levels.split("|"), ordered=False)
            unknown = set(data[column].dropna()) - set(categories.categories)
            if unknown:  # astype would turn them into NaN without a word
                raise PerceptionError(
                    f"the bundled file {name}.csv.gz holds values {sorted(unknown)} in "
                    f"column {column!r} that are not among its levels; reinstall perception"
                )
            data[column] = data[column].astype(categories)
        elif kind == "integer" and not data[column].isna().any():
            data[column] = data[column].astype("int64")
    return data
