"""The built-in Central Mali example: a simulated finite population, its survey waves
and the population's true values.

:func:`demo_survey` builds a synthetic adult population of the 15 cercles of Mopti and
Ségou sized from the 2009 census (RGPH 2009), draws a stratified two-stage sample from
it at each wave (villages PPS within cercle × treatment strata, households at random,
one adult by Kish selection), simulates nonresponse, answers and weights, and computes
the *true* population values (shares, changes, difference-in-differences) exactly on the
finite population. Everything is deterministic for a seed.

The population model
--------------------
- Geography: each cercle has its communes (about as many as in 2009); the first
  commune is the cercle's urban chef-lieu. The programme treats a subset of communes in
  every cercle (the chef-lieu, where FSI posts are, and a fifth of the others, chosen
  with probability proportional to size).
  Communes hold villages (urban quartiers in the chef-lieu), the primary sampling units.
- People: households of census size; adults with sex (cercle × sex totals of the census
  kept exactly), age (census age shares), education, activity, displacement and
  ethnicity (village-dominant groups mixed by cercle).
- Scale: one simulated adult stands for ``SCALE`` (4) adults of the census, which keeps
  the build fast; weights are expanded by the same factor so they estimate census totals.
- Answers to the population items (the trust items, ``safe_night``, ``would_report``) are
  ordinal probit draws: cercle conflict intensity, covariates, a village random effect
  (giving an intra-village correlation of about ``icc`` on the binary
  "somewhat/a lot" indicator within strata), a person effect persisting across waves and
  a wave-specific error. The time trend and the programme effect are shifts of the
  latent scale, solved on the finite population so that in each arm the share of
  positive answers rises by exactly ``trend`` and in the treated communes by a further
  ``effect`` at the last wave (half of each at a midline): the true DiD and effect on
  the treated equal the configured values (to one adult). Other items are drawn for
  respondents only, from their profile, cercle, arm, wave and view of the FSI.
- A list experiment on a sensitive item (abuse by the FSI in the household,
  ``abuse_hh``): every adult has a true status at each wave (a logistic model on the
  cercle's conflict, pastoral groups, displacement and a village effect; the programme
  lowers it in treated communes); respondents hear one of two lists at random
  (``le_list``) and count truthfully (``le_count``), while the direct question
  ``abuse_hh`` under-reports. It is drawn from a random stream of its own, spawned from
  the seed, so the rest of the demo is the same with or without it.
- Nonresponse depends on sex, age and insecurity; panel attrition also on
  displacement. ``w_nr`` corrects it (weighting classes cercle × sex × age band; for
  panel follow-ups, a logistic retention propensity), ``w_final`` post-stratifies to
  the census adults by cercle × sex. Weighted estimates are unbiased for the truth
  (checked by Monte Carlo).

Notes
-----
The sampling design matches ``SurveyDesign(waves, weights="w_final", strata="stratum",
psu="psu_id")`` (with-replacement first stage, R's ``svydesign(ids=~psu_id,
strata=~stratum, weights=~w_final)``). The same villages are revisited at every wave.

Examples
--------
>>> demo = demo_survey(seed=1)
>>> sorted(demo.waves["wave"].unique().tolist())
[0, 1]
>>> t = demo.truth
>>> round(float(t.query("quantity == 'did' and variable == 'trust_police'")["value"].iloc[0]), 3)
0.08
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import PerceptionError, QuestionnaireError

if TYPE_CHECKING:  # pragma: no cover
    from ..survey.design import SurveyDesign

__all__ = [
    "DemoSurvey",
    "demo_survey",
    "questionnaire_path",
    "SCALE",
    "POPULATION_ITEMS",
]

#: real adults represented by one simulated adult
SCALE = 4
QUESTIONNAIRE_FILE = "centre_mali_trust.yaml"
WAVE_NAMES = {2: ("baseline", "endline"), 3: ("baseline", "midline", "endline")}
#: the wave labels of a three-wave demo beyond the questionnaire's baseline
_MIDLINE_WAVES: dict[Any, Any] = {1: {"fr": "Mi-parcours", "en": "Midline"},
                  2: {"fr": "Fin de projet", "en": "Endline"}}
# fieldwork start of each wave (the programme's actions start between baseline and midline)
_FIELDWORK_START = {
    2: ("2024-02-05", "2025-02-03"),
    3: ("2024-02-05", "2024-09-02", "2025-02-03"),
}
_FIELDWORK_DAYS = 35

# ---------------------------------------------------------------------------------------
# Package data


def _data_file(name: str) -> Any:
    return importlib.resources.files("perception.demo").joinpath("data", name)


def _read_data_csv(name: str) -> pd.DataFrame:
    with _data_file(name).open("rb") as fh:
        return pd.read_csv(fh)


def questionnaire_path() -> Path:
    """Path of the Central Mali questionnaire (``centre_mali_trust.yaml``).

    Looks in the installed package data first (``perception/demo/data/``), then in the
    ``questionnaires/`` folder of a source checkout.

    Returns
    -------
    pathlib.Path
        The YAML file.

    Raises
    ------
    QuestionnaireError
        If neither file exists.

    Examples
    --------
    >>> questionnaire_path().name
    'centre_mali_trust.yaml'
    """
    packaged = _data_file(QUESTIONNAIRE_FILE)
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "questionnaires" / QUESTIONNAIRE_FILE
    if checkout.is_file():
        return checkout
    raise QuestionnaireError(
        f"the Central Mali questionnaire {QUESTIONNAIRE_FILE} is neither in the package data "
        f"(perception/demo/data/) nor at {checkout}; reinstall perception or restore the file"
    )


# ---------------------------------------------------------------------------------------
# Cercle profiles: facts and modelling assumptions (documented, not estimates)


@dataclass(frozen=True)
class _Cercle:
    code: int  # study code of the questionnaire: region digit + rank in the census table
    communes: int  # communes (2009 division, approximate)
    urban_share: float  # share of adults in the chef-lieu commune
    conflict: float  # 0 calm .. 1 most affected by the 2015-2023 violence (assumption)
    lat: float
    lon: float
    ethnic: dict[int, float]  # ethnic code -> share in the cercle (assumption)


# ethnic codes of the questionnaire
_BAMBARA, _PEULH, _DOGON, _BOZO, _SONRHAI, _SARAKOLE, _TAMASHEQ = 1, 2, 3, 4, 5, 6, 7
_BOBO, _MINIANKA, _MALINKE, _SENOUFO, _MARKA, _SOMONO, _OTHER = 8, 9, 10, 11, 12, 13, 96

_CERCLES: dict[str, _Cercle] = {
    "Mopti": _Cercle(11, 15, 0.40, 0.50, 14.49, -4.18,
                     {_PEULH: .30, _BOZO: .15, _BAMBARA: .12, _DOGON: .10, _SONRHAI: .10, _MARKA: .10, _SOMONO: .05, _OTHER: .08}),
    "Bandiagara": _Cercle(12, 21, 0.10, 0.90, 14.35, -3.61,
                          {_DOGON: .75, _PEULH: .15, _BAMBARA: .03, _SONRHAI: .03, _OTHER: .04}),
    "Bankass": _Cercle(13, 12, 0.10, 0.90, 14.08, -3.52,
                       {_DOGON: .68, _PEULH: .20, _BAMBARA: .04, _MARKA: .04, _OTHER: .04}),
    "Djenné": _Cercle(14, 12, 0.15, 0.70, 13.91, -4.55,
                      {_PEULH: .30, _MARKA: .20, _BOZO: .15, _BAMBARA: .20, _SOMONO: .05, _OTHER: .10}),
    "Douentza": _Cercle(15, 15, 0.10, 0.90, 15.00, -2.95,
                        {_PEULH: .40, _DOGON: .25, _SONRHAI: .15, _TAMASHEQ: .10, _OTHER: .10}),
    "Koro": _Cercle(16, 16, 0.08, 0.95, 14.07, -3.08,
                    {_DOGON: .72, _PEULH: .15, _OTHER: .13}),
    "Ténenkou": _Cercle(17, 10, 0.10, 0.85, 14.46, -4.92,
                        {_PEULH: .50, _BAMBARA: .20, _BOZO: .12, _MARKA: .10, _OTHER: .08}),
    "Youwarou": _Cercle(18, 7, 0.12, 0.80, 15.37, -4.26,
                        {_PEULH: .45, _BOZO: .25, _TAMASHEQ: .10, _SONRHAI: .10, _OTHER: .10}),
    "Ségou": _Cercle(21, 30, 0.25, 0.20, 13.43, -6.26,
                     {_BAMBARA: .62, _MARKA: .10, _BOZO: .06, _SOMONO: .06, _PEULH: .10, _SARAKOLE: .03, _OTHER: .03}),
    "Barouéli": _Cercle(22, 11, 0.08, 0.15, 13.07, -6.83,
                        {_BAMBARA: .80, _PEULH: .10, _MALINKE: .05, _OTHER: .05}),
    "Bla": _Cercle(23, 17, 0.08, 0.15, 12.95, -5.76,
                   {_BAMBARA: .50, _MINIANKA: .30, _PEULH: .10, _OTHER: .10}),
    "Macina": _Cercle(24, 11, 0.10, 0.70, 13.96, -5.36,
                      {_BAMBARA: .35, _PEULH: .30, _MARKA: .20, _BOZO: .10, _OTHER: .05}),
    "Niono": _Cercle(25, 12, 0.12, 0.65, 14.25, -5.99,
                     {_BAMBARA: .45, _PEULH: .25, _SARAKOLE: .10, _MINIANKA: .05, _OTHER: .15}),
    "San": _Cercle(26, 25, 0.15, 0.20, 13.30, -4.90,
                   {_BAMBARA: .25, _MINIANKA: .25, _BOBO: .20, _MARKA: .10, _PEULH: .10, _SENOUFO: .05, _OTHER: .05}),
    "Tominian": _Cercle(27, 12, 0.08, 0.15, 13.28, -4.39,
                        {_BOBO: .70, _MINIANKA: .10, _PEULH: .10, _MARKA: .05, _OTHER: .05}),
}
_REGION_CODE = {"Mopti": 1, "Ségou": 2}
_TREATED_SHARE = 0.2  # share of non-chef-lieu communes the programme treats
_RURAL_VILLAGE_ADULTS = 600  # mean adults (census scale) per rural village
_URBAN_QUARTIER_ADULTS = 1500  # mean adults per urban quartier
_MIN_PSU_HOUSEHOLDS = 45  # households (simulated) per PSU at least: 3 waves x 15, no overlap


# ---------------------------------------------------------------------------------------
# Population items: answers held for every adult of the population at every wave


@dataclass(frozen=True)
class _Item:
    name: str
    probs: tuple[float, ...]  # baseline distribution of the ordinal levels, low -> high
    codes: tuple[int, ...]  # the code written for each level
    n_positive: int  # the top levels counted as "positive" in the truth
    effect: float  # multiple of `effect` (share points at the last wave, treated communes)
    trend: float  # multiple of `trend` (share points at the last wave, every commune)
    family: str  # which covariate effects apply
    p_dk: float
    p_refused: float
    special: tuple[int, float, float] | None = None  # (code, p men, p women) outside the scale


POPULATION_ITEMS: tuple[_Item, ...] = (
    _Item("trust_police", (.22, .26, .30, .22), (0, 1, 2, 3), 2, 1.0, 1.0, "fsi", .03, .015),
    _Item("trust_gend", (.18, .24, .32, .26), (0, 1, 2, 3), 2, 1.0, 1.0, "fsi", .04, .015),
    _Item("trust_gn", (.17, .23, .33, .27), (0, 1, 2, 3), 2, 1.0, 1.0, "fsi", .07, .015),
    _Item("trust_pc", (.12, .20, .35, .33), (0, 1, 2, 3), 2, 1.0, 1.0, "fsi", .10, .010),
    _Item("trust_army", (.10, .15, .30, .45), (0, 1, 2, 3), 2, 0.5, 1.0, "army", .02, .020),
    _Item("trust_justice", (.28, .28, .27, .17), (0, 1, 2, 3), 2, 0.5, 1.0, "state", .05, .010),
    _Item("trust_mayor", (.20, .25, .30, .25), (0, 1, 2, 3), 2, 0.25, 1.0, "state", .03, .010),
    _Item("trust_trad", (.05, .12, .33, .50), (0, 1, 2, 3), 2, 0.0, 1.0, "community", .01, .005),
    _Item("trust_relig", (.04, .10, .31, .55), (0, 1, 2, 3), 2, 0.0, 1.0, "community", .01, .005),
    _Item("trust_selfdef", (.30, .22, .25, .23), (0, 1, 2, 3), 2, 0.0, 0.0, "selfdef", .08, .040),
    # security: levels low -> high are "very unsafe" .. "very safe" (codes 4 .. 1)
    _Item("safe_night", (.15, .30, .35, .20), (4, 3, 2, 1), 2, 0.5, 1.0, "security", .01, .005,
          special=(5, .03, .12)),
    _Item("would_report", (.15, .20, .35, .30), (1, 2, 3, 4), 2, 0.75, 1.0, "fsi", .04, .010),
)
TRUST_ITEMS = tuple(i.name for i in POPULATION_ITEMS if i.name.startswith("trust_"))
_DK, _REFUSED = 9, 8


# ---------------------------------------------------------------------------------------
# The population


@dataclass
class _Population:
    """Arrays describing the finite population (one entry per simulated adult)."""

    scale: int
    n_waves: int
    cercle_names: list[str]
    cercle_regions: list[str]
    # communes
    commune_cercle: np.ndarray
    commune_treated: np.ndarray
    commune_rank: np.ndarray
    commune_fsi_post: np.ndarray
    # villages
    village_commune: np.ndarray
    village_urban: np.ndarray
    village_households: np.ndarray
    village_lat: np.ndarray
    village_lon: np.ndarray
    village_label: np.ndarray
    # households
    hh_village: np.ndarray
    hh_first: np.ndarray  # index of the household's first adult
    hh_adults: np.ndarray
    hh_persons: np.ndarray
    hh_rank: np.ndarray  # household number within its village
    # adults
    village: np.ndarray
    household: np.ndarray
    line: np.ndarray  # adult's line number in the household roster
    sex: np.ndarray
    age: np.ndarray  # completed years at the baseline interview
    birthday: np.ndarray  # time to the next birthday, in years (0..1)
    educ: np.ndarray
    activity: np.ndarray
    displaced: np.ndarray
    ethnic: np.ndarray
    # answers: item -> (waves, N) codes; positive_cf: the treated adults' positive
    # answers without the programme (same errors)
    answers: dict[str, np.ndarray] = field(default_factory=dict)
    positive: dict[str, np.ndarray] = field(default_factory=dict)  # (waves, N) bool
    substantive: dict[str, np.ndarray] = field(default_factory=dict)  # (waves, N) bool
    positive_cf: dict[str, np.ndarray] = field(default_factory=dict)  # (waves, N_treated) bool
    # the sensitive item of the list experiment (abuse by the FSI in the household): the
    # true status of every adult at every wave, and of the treated adults without the
    # programme (same draws); drawn from the list experiment's own random stream
    sensitive: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    sensitive_cf: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))

    @property
    def n(self) -> int:
        return int(self.sex.shape[0])

    @property
    def commune(self) -> np.ndarray:
        return self.village_commune[self.village]

    @property
    def cercle(self) -> np.ndarray:
        return self.commune_cercle[self.commune]

    @property
    def treated(self) -> np.ndarray:
        return self.commune_treated[self.commune]


def _census() -> pd.DataFrame:
    census = _read_data_csv("centre_mali_cercles_rgph2009.csv")
    unknown = set(census["cercle"]) - set(_CERCLES)
    if unknown:  # pragma: no cover - guards the packaged data
        raise PerceptionError(f"census table has cercles without a profile: {sorted(unknown)}")
    return census


def _age_shares() -> pd.DataFrame:
    return _read_data_csv("mali_adult_age_shares_rgph2009.csv")


def _draw_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix; returns column indices."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def _group_small_villages(commune: np.ndarray, households: np.ndarray, minimum: int) -> np.ndarray:
    """PSU number of each village (villages in commune order): consecutive villages of a
    commune are grouped until the group has ``minimum`` households; a commune's last
    group, if too small, joins the one before it."""
    group = np.empty(commune.shape[0], dtype=np.int64)
    g, size, first_of_commune = -1, minimum, 0
    for j in range(commune.shape[0]):
        new_commune = j == 0 or commune[j] != commune[j - 1]
        if new_commune or size >= minimum:
            if new_commune and j > 0 and size < minimum and g > first_of_commune:
                group[group == g] = g - 1  # previous commune's short last group
                g -= 1
            g += 1
            size = 0
            if new_commune:
                first_of_commune = g
        group[j] = g
        size += int(households[j])
    if size < minimum and g > first_of_commune:
        group[group == g] = g - 1
    return np.unique(group, return_inverse=True)[1]


def _build_geography(rng: np.random.Generator, census: pd.DataFrame, scale: int) -> dict:
    """Communes, villages and households of every cercle."""
    c_cercle, c_treated, c_rank, c_post = [], [], [], []
    v_commune, v_urban, v_hh, v_lat, v_lon = [], [], [], [], []
    h_village, h_adults, h_persons, h_rank = [], [], [], []
    n_communes = n_villages = 0
    row: Any  # a census row: its columns' types are not known statically
    for ci, row in enumerate(census.itertuples(index=False)):
        prof = _CERCLES[row.cercle]
        n_adults = int(round(row.adults18_men_est / scale)) + int(round(row.adults18_women_est / scale))
        adults_per_hh = (row.adults18_men_est + row.adults18_women_est) / row.households
        children_per_hh = row.population_2009 / row.households - adults_per_hh
        # communes: the chef-lieu (rank 0) is urban and treated; a fifth of the others too
        k = prof.communes
        rural_w = rng.lognormal(0.0, 0.45, k - 1)
        commune_adults = np.empty(k)
        commune_adults[0] = prof.urban_share * n_adults
        commune_adults[1:] = (1 - prof.urban_share) * n_adults * rural_w / rural_w.sum()
        treated = np.zeros(k, dtype=bool)
        treated[0] = True
        n_rural_treated = max(1, int(round(_TREATED_SHARE * (k - 1))))
        # the programme favours communes with more people (selection on observables)
        pick = rng.choice(k - 1, n_rural_treated, replace=False, p=rural_w / rural_w.sum())
        treated[1 + pick] = True
        post = treated.copy()  # FSI posts: the programme's communes and a few others
        post[~treated] = rng.random((~treated).sum()) < 0.25
        c_cercle.append(np.full(k, ci))
        c_treated.append(treated)
        c_rank.append(np.arange(k))
        c_post.append(post)
        # villages: mean size per rural/urban; sizes lognormal with a floor
        mean_size = np.where(np.arange(k) == 0, _URBAN_QUARTIER_ADULTS, _RURAL_VILLAGE_ADULTS) / scale
        n_v = np.maximum(3, np.round(commune_adults / mean_size)).astype(int)
        vc = np.repeat(np.arange(k), n_v)
        w = np.maximum(rng.lognormal(0.0, 0.55, vc.shape[0]), 0.5)
        share = np.zeros_like(w)
        for j in range(k):
            m = vc == j
            share[m] = commune_adults[j] * w[m] / w[m].sum()
        share = share / share.sum() * n_adults
        # households: adult counts 1 + Poisson, cut to exactly n_adults
        est = int(n_adults / adults_per_hh * 1.15) + 50
        sizes = 1 + rng.poisson(adults_per_hh - 1, est)
        cum = np.cumsum(sizes)
        n_h = int(np.searchsorted(cum, n_adults) + 1)
        sizes = sizes[:n_h]
        sizes[-1] -= int(cum[n_h - 1] - n_adults)
        if sizes[-1] <= 0:  # pragma: no cover - impossible by construction
            raise PerceptionError("household construction failed")
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        village_of_hh = np.searchsorted(np.cumsum(share), start, side="right")
        village_of_hh = np.minimum(village_of_hh, vc.shape[0] - 1)
        hh_count = np.bincount(village_of_hh, minlength=vc.shape[0])
        # as census frames group hamlets into enumeration areas, small villages join a
        # neighbour of their commune so that every PSU has enough households
        group = _group_small_villages(vc, hh_count, _MIN_PSU_HOUSEHOLDS)
        village_of_hh = group[village_of_hh]
        vc = vc[np.unique(group, return_index=True)[1]]
        hh_count = np.bincount(village_of_hh)
        rank = np.arange(n_h) - np.repeat(np.cumsum(hh_count) - hh_count, hh_count)
        kids = rng.poisson(children_per_hh * sizes / adults_per_hh)
        lat = prof.lat + rng.normal(0.0, 0.22, vc.shape[0])
        lon = prof.lon + rng.normal(0.0, 0.22, vc.shape[0])
        v_commune.append(vc + n_communes)
        v_urban.append(vc == 0)
        v_hh.append(hh_count)
        v_lat.append(lat)
        v_lon.append(lon)
        h_village.append(village_of_hh + n_villages)
        h_adults.append(sizes)
        h_persons.append(np.minimum(sizes + kids, 60))
        h_rank.append(rank + 1)
        n_communes += k
        n_villages += vc.shape[0]
    cat = np.concatenate
    return dict(
        commune_cercle=cat(c_cercle), commune_treated=cat(c_treated),
        commune_rank=cat(c_rank), commune_fsi_post=cat(c_post),
        village_commune=cat(v_commune), village_urban=cat(v_urban),
        village_households=cat(v_hh), village_lat=cat(v_lat), village_lon=cat(v_lon),
        hh_village=cat(h_village), hh_adults=cat(h_adults), hh_persons=cat(h_persons),
        hh_rank=cat(h_rank),
    )


def _build_people(rng: np.random.Generator, census: pd.DataFrame, geo: dict, scale: int) -> dict:
    """Adults of every household with their characteristics."""
    hh_adults = geo["hh_adults"]
    n = int(hh_adults.sum())
    household = np.repeat(np.arange(hh_adults.shape[0]), hh_adults)
    hh_first = np.concatenate([[0], np.cumsum(hh_adults)[:-1]])
    line = np.arange(n) - hh_first[household] + 1
    village = geo["hh_village"][household]
    commune = geo["village_commune"][village]
    cercle = geo["commune_cercle"][commune]
    urban = geo["village_urban"][village]
    # sex: the census men/women totals of each cercle, exactly; the head (line 1) is
    # usually a man
    sex = np.empty(n, dtype=np.int8)
    row: Any  # a census row: its columns' types are not known statically
    for ci, row in enumerate(census.itertuples(index=False)):
        idx = np.flatnonzero(cercle == ci)
        n_men = int(round(row.adults18_men_est / scale))
        key = rng.random(idx.shape[0]) - 0.6 * (line[idx] == 1)
        order = idx[np.argsort(key, kind="stable")]
        sex[order[:n_men]] = 1
        sex[order[n_men:]] = 2
    # age: census age groups ("18-24", ..., "65+"), uniform within a group, the open
    # group with a decaying tail
    ages = _age_shares()
    labels = ages["age_group"].astype(str).tolist()
    lo = np.array([int(g.rstrip("+").split("-")[0]) for g in labels])
    hi = np.array([int(g.split("-")[1]) if "-" in g else int(g.rstrip("+")) for g in labels])
    shares = ages["share_adults_18plus"].to_numpy()
    grp = rng.choice(len(labels), n, p=shares / shares.sum())
    age = lo[grp] + np.floor(rng.random(n) * (hi[grp] - lo[grp] + 1)).astype(int)
    open_group = np.array([g.endswith("+") for g in labels])[grp]
    age[open_group] = np.minimum(
        lo[grp][open_group] + np.floor(rng.exponential(6.0, open_group.sum())).astype(int), 100)
    # education: ordinal latent by sex, age and urban milieu
    z = (-0.55 * (sex == 2) + 0.5 * (age < 35) - 0.35 * (age >= 55) + 0.8 * urban
         + rng.standard_normal(n))
    educ = np.searchsorted([0.35, 0.95, 1.55, 2.35], z).astype(np.int8)
    # ethnicity: a dominant group per village, mixed within the cercle
    v_cercle = geo["commune_cercle"][geo["village_commune"]]
    names = census["cercle"].tolist()
    mixes = [_CERCLES[c].ethnic for c in names]
    v_dominant = np.empty(v_cercle.shape[0], dtype=np.int16)
    for ci, mix in enumerate(mixes):
        m = v_cercle == ci
        codes, p = np.array(list(mix)), np.array(list(mix.values()))
        v_dominant[m] = rng.choice(codes, m.sum(), p=p / p.sum())
    n_hh = hh_adults.shape[0]
    hh_cercle = v_cercle[geo["hh_village"]]
    hh_eth = v_dominant[geo["hh_village"]].copy()
    mixed = rng.random(n_hh) < 0.25
    for ci, mix in enumerate(mixes):
        m = mixed & (hh_cercle == ci)
        codes, p = np.array(list(mix)), np.array(list(mix.values()))
        hh_eth[m] = rng.choice(codes, m.sum(), p=p / p.sum())
    ethnic = hh_eth[household].astype(np.int16)
    # displacement (household-level): more where conflict is intense, clustered by village
    conflict = np.array([_CERCLES[c].conflict for c in names])
    v_idp = rng.gamma(0.8, 1 / 0.8, v_cercle.shape[0])
    hh_conf = conflict[hh_cercle]
    p_now = np.minimum(0.09 * hh_conf * v_idp[geo["hh_village"]], 0.6)
    p_ret = 0.06 * hh_conf
    u = rng.random(n_hh)
    hh_disp = np.where(u < p_now, 1, np.where(u < p_now + p_ret, 2, 0)).astype(np.int8)
    displaced = hh_disp[household]
    # activity: by sex, age, education, ethnicity and milieu
    male = sex == 1
    young = age < 25
    p = np.zeros((n, 10), dtype=np.float32)
    p[:, 0] = np.where(male, 0.48, 0.22) * np.where(urban, 0.25, 1.0)  # farmer
    p[:, 1] = np.where(male, 0.08, 0.02) + np.where(ethnic == _PEULH, np.where(male, 0.35, 0.06), 0)
    p[:, 2] = np.where(np.isin(ethnic, [_BOZO, _SOMONO]), np.where(male, 0.45, 0.08), 0.01)
    p[:, 3] = np.where(male, 0.09, 0.14) * np.where(urban, 2.5, 1.0)  # trader
    p[:, 4] = np.where(male, 0.06, 0.04) * np.where(urban, 2.0, 1.0)  # artisan
    p[:, 5] = np.where(educ >= 3, 0.25, 0.01) * np.where(urban, 1.5, 1.0)  # employee
    p[:, 6] = np.where(young & (educ >= 2), 0.45, 0.0)  # pupil/student
    p[:, 7] = np.where(male, 0.0, 0.45)  # homemaker
    p[:, 8] = np.where(young, 0.07, 0.03) * np.where(displaced == 1, 3.0, 1.0)  # unemployed
    p[:, 9] = 0.03
    activity = (_draw_categorical(rng, p) + 1).astype(np.int8)
    return dict(
        village=village, household=household, line=line, hh_first=hh_first, sex=sex,
        age=age.astype(np.int16), birthday=rng.random(n, dtype=np.float32), educ=educ,
        activity=activity, displaced=displaced, ethnic=ethnic,
    )


def _latent_covariates(pop: _Population, family: str, conflict: np.ndarray,
                       cercle_re: np.ndarray) -> np.ndarray:
    """Systematic part of an item's latent scale for every adult."""
    cercle = pop.cercle
    conf = conflict[cercle]
    urban = pop.village_urban[pop.village]
    eth = pop.ethnic
    pastoral = np.isin(eth, [_PEULH, _TAMASHEQ])
    treated = pop.treated
    if family == "fsi":
        x = (-0.8 * conf - 0.35 * pastoral - 0.10 * (eth == _DOGON) - 0.25 * (pop.displaced == 1)
             - 0.15 * urban - 0.15 * treated + 0.05 * (pop.age >= 55))
    elif family == "army":
        x = -0.3 * conf - 0.55 * pastoral + 0.15 * np.isin(eth, [_DOGON, _BAMBARA])
    elif family == "state":
        x = -0.4 * conf - 0.15 * urban - 0.15 * pastoral - 0.1 * (pop.educ >= 3)
    elif family == "community":
        x = 0.2 * (pop.age >= 45) - 0.25 * (pop.educ >= 3) + 0.1 * ~urban
    elif family == "selfdef":
        x = (0.6 * (eth == _DOGON) + 0.3 * (eth == _BAMBARA) - 1.1 * pastoral + 0.3 * conf
             - 0.2 * urban)
    elif family == "security":
        x = -1.0 * conf - 0.2 * (pop.sex == 2) + 0.2 * urban - 0.3 * (pop.displaced == 1)
    else:  # pragma: no cover
        raise ValueError(family)
    return (x + cercle_re[cercle]).astype(np.float32)


def _levels(latent: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Ordinal level (0 .. len(cuts)) of each latent value."""
    level = np.zeros(latent.shape[0], dtype=np.int8)
    for c in cuts:
        level += latent > np.float32(c)
    return level


def _shifts_for_counts(values: np.ndarray, cut: float, counts: list[int]) -> list[float]:
    """Shifts ``d`` such that exactly ``count`` of ``values + d`` exceed ``cut``, for
    each count (one partial sort for all)."""
    n = values.shape[0]
    counts = [min(max(c, 0), n) for c in counts]
    kth = sorted({k for c in counts if 0 < c < n for k in (n - c - 1, n - c)})
    part = np.partition(values, kth) if kth else values
    out = []
    for c in counts:
        if c == 0:
            out.append(float(cut - values.max() - 1e-3))
        elif c == n:
            out.append(float(cut - values.min() + 1e-3))
        else:  # midway between the order statistics around the boundary
            out.append(float(cut - 0.5 * (float(part[n - c - 1]) + float(part[n - c]))))
    return out


def _build_answers(rng: np.random.Generator, pop: _Population, *, effect: float,
                   trend: float, icc: float) -> None:
    """Population answers to the population items at every wave (in place).

    The latent shifts of each later wave are solved on the finite population: in each
    arm (treated, comparison) the realised share of positive answers among substantive
    ones equals the baseline share plus the trend, and in the treated arm a further
    shift adds the effect. The true DiD and effect on the treated therefore equal the
    configured values up to one adult in the arm (1/N).
    """
    n, n_waves = pop.n, pop.n_waves
    conflict = np.array([_CERCLES[c].conflict for c in pop.cercle_names])
    village = pop.village
    treated = pop.treated
    arms = (treated, ~treated)
    idx_t = np.flatnonzero(treated)
    # latent intra-village correlation giving about `icc` on a binary item at p ~ 0.5
    rho = float(np.sin(np.pi * icc / 2.0))
    lam = 0.5  # share of the person-level variance that persists across waves
    s_wave = np.float32(np.sqrt((1 - rho) * (1 - lam)))
    n_villages = int(pop.village_commune.shape[0])
    u_common = rng.standard_normal(n_villages, dtype=np.float32)
    f_common = rng.standard_normal(n, dtype=np.float32)
    frac = np.arange(n_waves) / (n_waves - 1)  # programme exposure and trend by wave
    women = pop.sex == 2
    dk_mult = (1.0 + 0.5 * women + 0.3 * (pop.educ == 0) + 0.2 * (pop.age >= 55)).astype(np.float32)
    dk_mult /= dk_mult.mean()
    families: dict[str, np.ndarray] = {}
    for item in POPULATION_ITEMS:
        if item.family not in families:
            cercle_re = rng.normal(0.0, 0.25, len(pop.cercle_names))
            families[item.family] = _latent_covariates(pop, item.family, conflict, cercle_re)
        u_item = rng.standard_normal(n_villages, dtype=np.float32)
        g_item = rng.standard_normal(n, dtype=np.float32)
        persistent = (families[item.family]
                      + np.float32(np.sqrt(rho)) * (0.8 * u_common + 0.6 * u_item)[village]
                      + np.float32(np.sqrt((1 - rho) * lam)) * (0.7 * f_common + 0.714 * g_item))
        codes = np.asarray(item.codes, dtype=np.int16)
        k_pos = len(item.probs) - item.n_positive  # first positive level
        answers = np.empty((n_waves, n), dtype=np.int16)
        positive = np.empty((n_waves, n), dtype=bool)
        substantive = np.empty((n_waves, n), dtype=bool)
        positive_cf = np.empty((n_waves, idx_t.shape[0]), dtype=bool)
        share0 = [0.0, 0.0]
        cuts = np.zeros(len(item.probs) - 1)
        for t in range(n_waves):
            latent = persistent + s_wave * rng.standard_normal(n, dtype=np.float32)
            # item nonresponse and answers outside the scale, independent of the latent
            u = rng.random(n, dtype=np.float32)
            refused = u < item.p_refused
            dk = ~refused & (u < item.p_refused + item.p_dk * dk_mult)
            answered = ~(refused | dk)
            eligible = answered.copy()  # may be positive
            special = np.zeros(n, dtype=bool)
            if item.special is not None:
                _, p_m, p_w = item.special
                special = answered & (rng.random(n, dtype=np.float32) < np.where(women, p_w, p_m))
                eligible &= ~special
            if t == 0:
                # cut points: the baseline distribution of the levels
                cuts = np.quantile(latent, np.cumsum(item.probs)[:-1])
            cut_pos = float(cuts[k_pos - 1])
            shift = np.zeros(n, dtype=np.float32)
            shift_cf = 0.0
            if t > 0:
                for a, arm in enumerate(arms):
                    n_ans = int(answered[arm].sum())
                    no_programme = share0[a] + item.trend * trend * frac[t]
                    targets = [no_programme]
                    if a == 0:  # treated arm: with the programme, and without it
                        targets = [no_programme + item.effect * effect * frac[t], no_programme]
                    shifts = _shifts_for_counts(latent[arm & eligible], cut_pos,
                                                [int(round(x * n_ans)) for x in targets])
                    shift[arm] = shifts[0]
                    if a == 0:
                        shift_cf = shifts[1]
                latent += shift
            level = _levels(latent, cuts)
            value = codes[level]
            value[refused] = _REFUSED
            value[dk] = _DK
            if item.special is not None:
                value[special] = item.special[0]
            answers[t] = value
            positive[t] = (level >= k_pos) & eligible
            substantive[t] = answered
            if t == 0:
                share0 = [positive[0][arm].sum() / answered[arm].sum() for arm in arms]
                positive_cf[t] = positive[t][idx_t]
            else:
                level_cf = _levels(latent[idx_t] - shift[idx_t] + np.float32(shift_cf), cuts)
                positive_cf[t] = (level_cf >= k_pos) & eligible[idx_t]
        pop.answers[item.name] = answers
        pop.positive[item.name] = positive
        pop.substantive[item.name] = substantive
        pop.positive_cf[item.name] = positive_cf


def _build_population(rng: np.random.Generator, *, n_waves: int, effect: float, trend: float,
                      icc: float, scale: int = SCALE) -> _Population:
    census = _census()
    geo = _build_geography(rng, census, scale)
    people = _build_people(rng, census, geo, scale)
    n_villages = geo["village_commune"].shape[0]
    labels = rng.permutation(n_villages) + 10_000
    pop = _Population(
        scale=scale, n_waves=n_waves, cercle_names=census["cercle"].tolist(),
        cercle_regions=census["region"].tolist(),
        commune_cercle=geo["commune_cercle"], commune_treated=geo["commune_treated"],
        commune_rank=geo["commune_rank"], commune_fsi_post=geo["commune_fsi_post"],
        village_commune=geo["village_commune"], village_urban=geo["village_urban"],
        village_households=geo["village_households"], village_lat=geo["village_lat"],
        village_lon=geo["village_lon"], village_label=labels,
        hh_village=geo["hh_village"], hh_first=people.pop("hh_first"),
        hh_adults=geo["hh_adults"], hh_persons=geo["hh_persons"], hh_rank=geo["hh_rank"],
        **people,
    )
    _build_answers(rng, pop, effect=effect, trend=trend, icc=icc)
    return pop


# ---------------------------------------------------------------------------------------
# Sampling


@dataclass
class _Selection:
    """The villages drawn once for all waves."""

    village: np.ndarray  # selected village indices
    stratum: np.ndarray  # stratum code (cercle * 2 + treated) of each selected village
    pi: np.ndarray  # first-stage inclusion probability of each selected village


def _allocate(pop: _Population, n_villages: int) -> np.ndarray:
    """Villages to draw per stratum (cercle * 2 + treated): a floor of 4 per stratum (2
    when fewer than 240 villages are drawn), the rest in proportion to the cercle's
    adults, split equally between arms (the treated arm is oversampled)."""
    n_cercles = len(pop.cercle_names)
    adults = np.bincount(pop.cercle, minlength=n_cercles).astype(float)
    floor = 8 if n_villages >= 16 * n_cercles else 4
    extra = max(n_villages - floor * n_cercles, 0) * adults / adults.sum()
    n_c = floor + np.floor(extra).astype(int)
    short = n_villages - n_c.sum()
    if short > 0:
        n_c[np.argsort(-(extra - np.floor(extra)), kind="stable")[:short]] += 1
    alloc = np.empty(2 * n_cercles, dtype=int)
    alloc[0::2] = n_c - n_c // 2  # comparison
    alloc[1::2] = n_c // 2  # treated
    v_stratum = pop.commune_cercle[pop.village_commune] * 2 + pop.commune_treated[pop.village_commune]
    available = np.bincount(v_stratum, minlength=2 * n_cercles)
    return np.minimum(alloc, available)


def _pps_systematic(rng: np.random.Generator, size: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Systematic PPS sample of ``n`` units from a list (in list order).

    Units with ``n * size / sum(size) >= 1`` are taken with certainty first. Returns the
    selected positions and their inclusion probabilities.
    """
    size = size.astype(float)
    certain = np.zeros(size.shape[0], dtype=bool)
    while True:
        rest = ~certain
        n_rest = n - int(certain.sum())
        pi = np.where(certain, 1.0, n_rest * size / size[rest].sum())
        new = rest & (pi >= 1.0)
        if not new.any():
            break
        certain |= new
    rest_idx = np.flatnonzero(~certain)
    n_rest = n - int(certain.sum())
    chosen = np.flatnonzero(certain)
    if n_rest > 0:
        cum = np.cumsum(size[rest_idx])
        step = cum[-1] / n_rest
        points = rng.random() * step + step * np.arange(n_rest)
        chosen = np.concatenate([chosen, rest_idx[np.searchsorted(cum, points, side="right")]])
    chosen = np.sort(chosen)
    return chosen, pi[chosen]


def _select_villages(rng: np.random.Generator, pop: _Population, n_villages: int) -> _Selection:
    v_commune = pop.village_commune
    v_stratum = pop.commune_cercle[v_commune] * 2 + pop.commune_treated[v_commune]
    alloc = _allocate(pop, n_villages)
    villages, strata, pis = [], [], []
    for h in np.flatnonzero(alloc):
        members = np.flatnonzero(v_stratum == h)
        # frame order: by commune (implicit stratification), villages shuffled within
        order = members[np.lexsort((rng.random(members.shape[0]), v_commune[members]))]
        pos, pi = _pps_systematic(rng, pop.village_households[order], int(alloc[h]))
        villages.append(order[pos])
        strata.append(np.full(pos.shape[0], h))
        pis.append(pi)
    return _Selection(np.concatenate(villages), np.concatenate(strata), np.concatenate(pis))


def _cercle_of(pop: _Population, person: np.ndarray) -> np.ndarray:
    return pop.commune_cercle[pop.village_commune[pop.village[person]]]


def _response_probability(pop: _Population, person: np.ndarray, conflict: np.ndarray) -> np.ndarray:
    """Probability that a selected adult is contacted and responds (depends on sex, age
    and the cercle's insecurity)."""
    male = pop.sex[person] == 1
    age = pop.age[person]
    conf = conflict[_cercle_of(pop, person)]
    eta = 2.6 - 0.7 * male - 0.5 * (age < 25) + 0.3 * (age >= 55) - 0.8 * conf
    return 1.0 / (1.0 + np.exp(-eta))


def _age_band3(age: np.ndarray) -> np.ndarray:
    """Age bands of the nonresponse classes: 18-24, 25-54, 55+."""
    return np.where(age < 25, 0, np.where(age < 55, 1, 2))


def _logistic_fit(x: np.ndarray, y: np.ndarray, max_iter: int = 30) -> np.ndarray:
    """Fitted probabilities of a logistic regression of ``y`` on the binary columns
    ``x`` (with an intercept), by Newton-Raphson on the distinct covariate patterns
    (exact maximum likelihood, no BLAS call); bounded below by 0.05."""
    patterns, row_pattern = np.unique(x.astype(bool), axis=0, return_inverse=True)
    row_pattern = row_pattern.ravel()
    size = np.bincount(row_pattern).astype(float)
    hits = np.bincount(row_pattern, y.astype(float))
    design = np.column_stack([np.ones(patterns.shape[0]), patterns.astype(float)])
    beta = np.zeros(design.shape[1])
    ridge = 1e-6 * np.eye(design.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.einsum("ij,j->i", design, beta)))
        hessian = np.einsum("ij,ik,i->jk", design, design, size * p * (1 - p)) + ridge
        step = np.linalg.solve(hessian, np.einsum("ij,i->j", design, hits - size * p))
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    fitted = 1.0 / (1.0 + np.exp(-np.einsum("ij,j->i", design, beta)))
    return np.maximum(fitted[row_pattern], 0.05)


@dataclass
class _Wave:
    """Respondents of one wave with their design information."""

    person: np.ndarray
    village_pos: np.ndarray  # position in _Selection arrays
    w_base: np.ndarray
    w_nr: np.ndarray
    w_final: np.ndarray
    n_selected: int


def _draw_waves(rng: np.random.Generator, pop: _Population, sel: _Selection, *,
                n_waves: int, hh_per_village: int, panel: bool,
                census: pd.DataFrame) -> list[_Wave]:
    """Households, Kish respondents, nonresponse and weights of every wave."""
    conflict = np.array([_CERCLES[c].conflict for c in pop.cercle_names])
    hh_start = np.concatenate([[0], np.cumsum(pop.village_households)[:-1]])
    # one random order of each selected village's households; wave t takes the t-th
    # block of it, so every wave is a simple random sample of households (probability
    # m / H) and waves share no household while t * m <= H (PSUs have >= 45 households)
    orders = [rng.permutation(pop.village_households[v]) for v in sel.village]
    totals = np.zeros((len(pop.cercle_names), 2))
    totals[:, 0] = census["adults18_men_est"].to_numpy()
    totals[:, 1] = census["adults18_women_est"].to_numpy()

    def draw(t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        persons, positions, weights = [], [], []
        for j, v in enumerate(sel.village):
            n_h = int(pop.village_households[v])
            m = min(hh_per_village, n_h)
            block = orders[j][(np.arange(m) + t * m) % n_h]
            hh = hh_start[v] + block
            n_adults = pop.hh_adults[hh]
            person = pop.hh_first[hh] + np.floor(rng.random(m) * n_adults).astype(np.int64)
            persons.append(person)
            positions.append(np.full(m, j))
            weights.append(pop.scale / (sel.pi[j] * (m / n_h) / n_adults))
        return np.concatenate(persons), np.concatenate(positions), np.concatenate(weights)

    def nonresponse(person_sel: np.ndarray, w_sel: np.ndarray, responded: np.ndarray) -> np.ndarray:
        # weighting classes cercle x sex x age band (the response mechanism)
        cls = (_cercle_of(pop, person_sel) * 2 + pop.sex[person_sel] - 1) * 3 + _age_band3(pop.age[person_sel])
        n_cls = len(pop.cercle_names) * 6
        sel_w = np.bincount(cls, w_sel, n_cls)
        resp_w = np.bincount(cls[responded], w_sel[responded], n_cls)
        factor = np.divide(sel_w, resp_w, out=np.ones(n_cls), where=resp_w > 0)
        return (w_sel * factor[cls])[responded]

    def poststratify(person: np.ndarray, w_nr: np.ndarray) -> np.ndarray:
        cs = _cercle_of(pop, person) * 2 + pop.sex[person] - 1
        ps = np.bincount(cs, w_nr, totals.size)
        return w_nr * np.divide(totals.reshape(-1), ps, out=np.zeros_like(ps), where=ps > 0)[cs]

    waves: list[_Wave] = []
    for t in range(n_waves):
        if t == 0 or not panel:
            person, pos, w_base = draw(t)
            responded = rng.random(person.shape[0]) < _response_probability(pop, person, conflict)
            n_selected = int(person.shape[0])
            w_nr = nonresponse(person, w_base, responded)
            person, pos, w_base = person[responded], pos[responded], w_base[responded]
        else:
            # panel: the previous wave's respondents are re-interviewed unless lost
            # (moved, refused, not found); attrition depends on sex, age, displacement and
            # insecurity, and is corrected by an estimated retention propensity
            prev = waves[-1]
            person, pos, w_base = prev.person, prev.village_pos, prev.w_base
            n_selected = int(person.shape[0])
            male = pop.sex[person] == 1
            young = pop.age[person] < 25
            displaced = pop.displaced[person] == 1
            eta = 2.3 - 0.4 * male - 0.5 * young - 1.0 * displaced - 0.6 * conflict[_cercle_of(pop, person)]
            retained = rng.random(person.shape[0]) < 1.0 / (1.0 + np.exp(-eta))
            covariates = np.column_stack([
                male, young, pop.age[person] >= 55, displaced,
                np.eye(len(pop.cercle_names), dtype=bool)[_cercle_of(pop, person)][:, 1:],
            ])
            propensity = _logistic_fit(covariates, retained)
            w_nr = (prev.w_nr / propensity)[retained]
            person, pos, w_base = person[retained], pos[retained], w_base[retained]
        waves.append(_Wave(person, pos, w_base, w_nr, poststratify(person, w_nr), n_selected))
    return waves


# ---------------------------------------------------------------------------------------
# Interviews: the answers of the respondents

_FIRST_NAMES = {
    1: ("Amadou", "Moussa", "Oumar", "Boubacar", "Seydou", "Ibrahim", "Adama", "Sékou", "Mamadou",
        "Hamadoun", "Bakary", "Yacouba", "Souleymane", "Issa", "Abdoulaye", "Drissa", "Modibo"),
    2: ("Fatoumata", "Aminata", "Mariam", "Kadiatou", "Hawa", "Awa", "Bintou", "Djénéba",
        "Oumou", "Assétou", "Rokia", "Salimata", "Kadidia", "Aïssata", "Maïmouna", "Ramata"),
}
_FAMILY_NAMES = {
    _BAMBARA: ("Traoré", "Coulibaly", "Diarra", "Keïta", "Konaté", "Doumbia"),
    _PEULH: ("Diallo", "Barry", "Cissé", "Sidibé", "Sangaré", "Bah", "Dicko"),
    _DOGON: ("Guindo", "Togo", "Dolo", "Kassogué", "Ongoïba", "Saye"),
    _BOZO: ("Kanta", "Nientao", "Tapo", "Djenepo"),
    _SONRHAI: ("Maïga", "Touré", "Cissé"),
    _SARAKOLE: ("Sylla", "Sacko", "Dramé"),
    _TAMASHEQ: ("Ag Mohamed", "Ag Ahmed", "Walet Intalla"),
    _BOBO: ("Dembélé", "Goïta", "Koné"),
    _MINIANKA: ("Sanogo", "Dao", "Coulibaly"),
    _MALINKE: ("Keïta", "Camara", "Kanté"),
    _SENOUFO: ("Ouattara", "Traoré", "Koné"),
    _MARKA: ("Sylla", "Cissé", "Kouma"),
    _SOMONO: ("Kanouté", "Tounkara", "Djiré"),
    _OTHER: ("Ouédraogo", "Sawadogo", "Konaré", "Berthé"),
}
# interview language by ethnic group: code -> (codes, probabilities)
_LANGUAGE = {
    _PEULH: ((2, 1), (.85, .15)), _DOGON: ((3, 1), (.75, .25)), _SONRHAI: ((4, 1), (.8, .2)),
    _BOZO: ((5, 1), (.6, .4)), _TAMASHEQ: ((96, 4), (.6, .4)),
}
_CA_TYPES = ((1, .45), (2, .30), (3, .25), (4, .30), (5, .20), (6, .15), (7, .15), (96, .05))


def _ordinal(rng: np.random.Generator, latent: np.ndarray, probs: tuple[float, ...]) -> np.ndarray:
    """Ordinal level (0..k-1) of ``latent + N(0,1)`` with cut points giving ``probs``
    when the latent part is zero."""
    cuts = np.array([NormalDist().inv_cdf(q) for q in np.cumsum(probs)[:-1]])
    return _levels((latent + rng.standard_normal(latent.shape[0])).astype(np.float32), cuts)


def _with_missing(rng: np.random.Generator, values: np.ndarray, p_refused: float, p_dk: float,
                  refused: int | None = _REFUSED, dk: int = _DK) -> np.ndarray:
    """Replace a share of answers by the refused / don't know codes."""
    out = values.astype(np.int64)
    u = rng.random(out.shape[0])
    if refused is not None:
        out[u < p_refused] = refused
    out[(u >= p_refused) & (u < p_refused + p_dk)] = dk
    return out


def _bernoulli(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return (rng.random(p.shape[0]) < p).astype(np.int64)


def _skip(values: np.ndarray, relevant: np.ndarray) -> pd.Series:
    """Coded answers, empty where the question was skipped (not relevant)."""
    return pd.Series(values, dtype="Int64").where(relevant, pd.NA)


def _interview(rng: np.random.Generator, pop: _Population, sel: _Selection, wave: _Wave, t: int,
               n_waves: int, id_codes: np.ndarray) -> pd.DataFrame:
    """The data file of one wave: design columns, profile, answers and PII."""
    p = wave.person
    n = int(p.shape[0])
    v = sel.village[wave.village_pos]
    commune = pop.village_commune[v]
    ci = pop.commune_cercle[commune]
    names = pop.cercle_names
    cercle_code = np.array([_CERCLES[c].code for c in names])[ci]
    region = np.array([_REGION_CODE[r] for r in pop.cercle_regions])[ci]
    treated = pop.commune_treated[commune].astype(np.int64)
    conf = np.array([_CERCLES[c].conflict for c in names])[ci]
    urban = pop.village_urban[v]
    exposure = t / (n_waves - 1)  # share of the programme's effect reached at this wave
    te = treated * exposure
    sex = pop.sex[p].astype(np.int64)
    women = sex == 2
    ethnic = pop.ethnic[p].astype(np.int64)
    pastoral = np.isin(ethnic, [_PEULH, _TAMASHEQ])
    elapsed = (np.datetime64(_FIELDWORK_START[n_waves][t]) - np.datetime64(_FIELDWORK_START[n_waves][0]))
    years = elapsed.astype("timedelta64[D]").astype(int) / 365.25
    age = pop.age[p].astype(np.int64) + np.floor(years + 1.0 - pop.birthday[p]).astype(np.int64)
    age_grp = np.searchsorted([25, 35, 45, 55], age, side="right") + 1
    hh = pop.household[p]

    df = pd.DataFrame(index=pd.RangeIndex(n))
    df["resp_id"] = np.char.add("R", id_codes.astype(str))
    df["wave"] = t
    df["region"] = region
    df["cercle"] = cercle_code
    df["commune"] = np.char.add(cercle_code.astype(str), np.char.zfill((pop.commune_rank[commune] + 1).astype(str), 2))
    psu = np.char.add("V", pop.village_label[v].astype(str))
    df["psu_id"] = psu
    df["stratum"] = np.char.add(cercle_code.astype(str), np.where(treated == 1, "-T", "-C"))
    df["w_final"] = wave.w_final
    df["treated"] = treated
    # one fieldwork day per village within the wave's five weeks
    start = np.datetime64(_FIELDWORK_START[n_waves][t])
    day = (pop.village_label[v] * 7 + t) % _FIELDWORK_DAYS
    df["survey_date"] = pd.to_datetime(start + day.astype("timedelta64[D]"))
    df["consent"] = 1
    lang = np.ones(n, dtype=np.int64)
    u = rng.random(n)
    for eth, (codes, probs) in _LANGUAGE.items():
        m = ethnic == eth
        lang[m] = np.where(u[m] < probs[0], codes[0], codes[1])
    lang[(pop.educ[p] >= 3) & urban & (rng.random(n) < 0.3)] = 6
    df["language"] = lang
    first = np.empty(n, dtype=object)
    family = np.empty(n, dtype=object)
    for s_code, pool in _FIRST_NAMES.items():
        m = sex == s_code
        first[m] = np.asarray(pool, dtype=object)[rng.integers(0, len(pool), m.sum())]
    for eth, pool in _FAMILY_NAMES.items():
        m = ethnic == eth
        family[m] = np.asarray(pool, dtype=object)[rng.integers(0, len(pool), m.sum())]
    df["resp_name"] = first + " " + family
    digits = rng.integers(0, 10**7, n)
    prefix = rng.choice(np.array(["6", "7", "9"]), n, p=[.3, .6, .1])
    phone = pd.Series(np.char.add(np.char.add("+223 ", prefix), np.char.zfill(digits.astype(str), 7)))
    df["phone"] = phone.where(rng.random(n) < 0.75, None)
    df["gps_lat"] = np.round(np.clip(pop.village_lat[v] + rng.normal(0, 0.004, n), 10.01, 16.99), 5)
    df["gps_lon"] = np.round(np.clip(pop.village_lon[v] + rng.normal(0, 0.004, n), -7.99, -1.01), 5)

    # profile
    df["sex"] = sex
    df["age"] = age
    df["age_grp"] = age_grp
    df["educ"] = _with_missing(rng, pop.educ[p], 0.002, 0.003)
    df["activity"] = _with_missing(rng, pop.activity[p], 0.003, 0.0, refused=98, dk=99)
    df["displaced"] = _with_missing(rng, pop.displaced[p], 0.01, 0.003)
    df["hh_size"] = pop.hh_persons[hh].astype(np.int64)
    df["ethnic"] = _with_missing(rng, ethnic, 0.02, 0.0, refused=98, dk=99)

    # population items at this wave; the respondent's view of the FSI summarises them
    answers = {item.name: pop.answers[item.name][t, p].astype(np.int64) for item in POPULATION_ITEMS}
    fsi = np.stack([answers[k] for k in ("trust_police", "trust_gend", "trust_gn")]).astype(float)
    fsi[fsi > 3] = np.nan
    fsi[:, np.isnan(fsi).all(axis=0)] = 1.5
    att = (np.nanmean(fsi, axis=0) - 1.5) / 0.9 + rng.normal(0, 0.5, n)

    # perceived security
    df["safe_night"] = answers["safe_night"]
    sec_change = _ordinal(rng, 0.4 * att - 0.6 * conf + 0.35 * te + 0.15 * exposure, (.12, .20, .40, .20, .08))
    df["sec_change"] = _with_missing(rng, 5 - sec_change, 0.005, 0.04)
    state = _ordinal(rng, 0.5 * att - 0.7 * conf + 0.2 * te, (.25, .30, .30, .15))
    df["state_protects"] = _with_missing(rng, state + 1, 0.01, 0.04)
    unsafe = _ordinal(rng, 0.9 * conf - 0.3 * att + 0.15 * women - 0.2 * te, (.30, .25, .20, .15, .10))
    df["unsafe_freq"] = _with_missing(rng, unsafe, 0.005, 0.02)

    # victimisation, with its skip logic
    herder = pop.activity[p] == 2
    theft = _with_missing(rng, _bernoulli(rng, 0.08 + 0.15 * conf + 0.08 * herder), 0.005, 0.005)
    attack = _with_missing(rng, _bernoulli(rng, 0.02 + 0.08 * conf), 0.005, 0.005)
    df["vict_theft"] = theft
    df["vict_attack"] = attack
    victim = (theft == 1) | (attack == 1)
    p_self = np.clip(0.20 + 0.08 * att, 0.05, 0.6)
    u = rng.random(n)
    reported = np.where(u < p_self, 1, np.where(u < p_self + 0.08, 2, 3))
    reported = _with_missing(rng, reported, 0.01, 0.02)
    df["vict_reported"] = _skip(reported, victim)
    to_codes = np.array([1, 2, 3, 4, 5, 6, 7, 97])
    to_urban = np.array([.45, .20, .10, .12, .03, .04, .03, .03])
    to_rural = np.array([.08, .35, .12, .25, .05, .05, .07, .03])
    to_probs = np.where(urban[:, None], to_urban, to_rural)
    reported_to = _with_missing(rng, to_codes[_draw_categorical(rng, to_probs)], 0.01, 0.01, refused=98, dk=99)
    df["vict_reported_to"] = _skip(reported_to, victim & np.isin(reported, [1, 2]))

    # trust
    for name in TRUST_ITEMS:
        df[name] = answers[name]

    # relations with the FSI
    post = pop.commune_fsi_post[commune]
    knows = np.where(rng.random(n) < 0.9, post, ~post).astype(np.int64)
    df["fsi_present"] = _with_missing(rng, knows, 0.0, 0.05, refused=None)
    seen = _ordinal(rng, 1.0 * post + 0.5 * urban + 0.6 * te - 0.3 * conf - 0.8, (.40, .25, .20, .15))
    df["fsi_seen_30d"] = _with_missing(rng, seen, 0.0, 0.02, refused=None)
    df["fsi_respect"] = _with_missing(rng, _ordinal(rng, 0.7 * att, (.15, .30, .35, .20)), 0.01, 0.05)
    df["fsi_equal"] = _with_missing(rng, _ordinal(rng, 0.6 * att - 0.5 * pastoral, (.20, .30, .30, .20)), 0.03, 0.06)
    trader_or_herder = np.isin(pop.activity[p], [2, 4])
    racket = _ordinal(rng, -0.5 * att + 0.5 * conf + 0.3 * trader_or_herder - 0.2 * te, (.25, .30, .30, .15))
    df["racket_freq"] = _with_missing(rng, racket, 0.02, 0.08)
    df["corr_fsi"] = _with_missing(rng, _ordinal(rng, -0.6 * att, (.10, .45, .30, .15)), 0.02, 0.10)
    p_abuse = 1 / (1 + np.exp(-(-1.7 + 1.2 * conf - 0.4 * att + 0.5 * pastoral - 0.3 * te)))
    df["abuse_heard"] = _with_missing(rng, _bernoulli(rng, p_abuse), 0.03, 0.03)
    df["would_report"] = answers["would_report"]
    df["judic_handover"] = _with_missing(rng, _ordinal(rng, 0.4 * att + 0.4 * te, (.15, .30, .35, .20)),
                                         0.0, 0.20, refused=None)
    df["impunity"] = _with_missing(rng, _ordinal(rng, -0.5 * att + 0.3 * conf - 0.2 * te, (.10, .25, .35, .30)), 0.02, 0.10)
    req = _with_missing(rng, _bernoulli(rng, 0.06 + 0.04 * urban + 0.04 * te + 0.03 * victim), 0.005, 0.005)
    df["req_help"] = req
    bribe = _with_missing(rng, _ordinal(rng, -0.4 * att, (.55, .20, .15, .10)), 0.03, 0.02)
    df["req_help_bribe"] = _skip(bribe, req == 1)

    # community actions: mostly heard of in treated communes once actions have started
    p_aware = 0.04 + 0.55 * te + 0.06 * exposure * (1 - treated) + 0.03 * urban
    aware = _with_missing(rng, _bernoulli(rng, p_aware), 0.0, 0.03, refused=None)
    df["ca_aware"] = aware
    is_aware = aware == 1
    picks = np.stack([rng.random(n) < pr for _, pr in _CA_TYPES], axis=1)
    picks[~picks.any(axis=1), 0] = True
    type_codes = np.array([str(c) for c, _ in _CA_TYPES], dtype=object)
    ca_type = np.array([" ".join(type_codes[row]) for row in picks], dtype=object)
    df["ca_type"] = pd.Series(ca_type).where(is_aware, None)
    part_probs = np.where(treated[:, None] == 1, [.55, .20, .13, .12], [.65, .20, .05, .10])
    participated = _with_missing(rng, _draw_categorical(rng, part_probs), 0.0, 0.02, refused=None)
    df["ca_participated"] = _skip(participated, is_aware)
    benefit = _with_missing(rng, _ordinal(rng, 0.3 * att, (.45, .35, .20)), 0.0, 0.03, refused=None)
    df["ca_benefit"] = _skip(benefit, is_aware)
    satisf = _with_missing(rng, _ordinal(rng, 0.5 * att, (.08, .15, .47, .30)) + 1, 0.0, 0.04, refused=None)
    df["ca_satisf"] = _skip(satisf, is_aware)
    local = _with_missing(rng, _bernoulli(rng, np.where(treated == 1, 0.7, 0.4)), 0.0, 0.15, refused=None)
    df["ca_local_labour"] = _skip(local, is_aware)
    employed = _with_missing(rng, _bernoulli(rng, np.where(treated == 1, 0.12, 0.05)), 0.0, 0.02, refused=None)
    df["ca_hh_employed"] = _skip(employed, is_aware)

    # design columns beyond the questionnaire (for weighting and checks)
    df["hh_id"] = np.char.add(np.char.add(psu, "-"), np.char.zfill(pop.hh_rank[hh].astype(str), 3))
    df["n_elig_adults"] = pop.hh_adults[hh].astype(np.int64)
    df["w_base"] = wave.w_base
    df["w_nr"] = wave.w_nr
    return df


# ---------------------------------------------------------------------------------------
# The list experiment: a random stream of its own

#: the sensitive item of the list experiment, and the direct question that asks it
SENSITIVE_ITEM = "abuse_hh"
#: the list experiment's columns: the list heard (0 control, 1 treatment) and the count
LIST_COLUMNS = ("le_list", "le_count")
#: the control statements' probabilities (radio, market, travel, ceremony): rural and
#: urban respondents, before the village effect
_CONTROL_ITEMS = ((0.50, 0.75), (0.70, 0.65), (0.30, 0.40), (0.50, 0.50))
#: logit model of the sensitive item: intercept, conflict of the cercle, pastoral groups,
#: displaced persons, sd of the village effect; the programme's change of the logit in
#: treated communes at the last wave
_ABUSE_MODEL = (-2.4, 1.7, 0.6, 0.5, 0.5)
_ABUSE_PROGRAMME = -0.6
#: share of the person's draw kept from one wave to the next (abuse persists)
_ABUSE_PERSISTENCE = 0.6


def _list_stream(seed: int) -> np.random.Generator:
    """The random generator of the list experiment: spawned from the seed, independent of
    the generator the rest of the demo draws from, so adding the list experiment moved
    none of the demo's other numbers (``tests/demo/demo_digest.json``)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(1)[0])


def _build_sensitive(rng: np.random.Generator, pop: _Population) -> None:
    """The true status of every adult on the sensitive item at every wave (in place).

    A logistic model on the cercle's conflict intensity, pastoral groups, displacement
    and a village effect; the programme lowers the logit in treated communes by
    ``_ABUSE_PROGRAMME`` at the last wave (half of it at a midline). A person keeps the
    uniform draw of the previous wave with probability ``_ABUSE_PERSISTENCE``. The
    treated adults' status without the programme uses the same draws.
    """
    intercept, b_conflict, b_pastoral, b_displaced, sd_village = _ABUSE_MODEL
    conflict = np.array([_CERCLES[c].conflict for c in pop.cercle_names])[pop.cercle]
    pastoral = np.isin(pop.ethnic, [_PEULH, _TAMASHEQ])
    village = rng.normal(0.0, sd_village, size=(int(pop.village_commune.shape[0]),))
    eta = (intercept + b_conflict * conflict + b_pastoral * pastoral
           + b_displaced * (pop.displaced == 1) + village[pop.village])
    treated = pop.treated
    frac = np.arange(pop.n_waves) / (pop.n_waves - 1)
    u = rng.random(pop.n)
    status = np.empty((pop.n_waves, pop.n), dtype=bool)
    status_cf = np.empty((pop.n_waves, int(treated.sum())), dtype=bool)
    for t in range(pop.n_waves):
        if t > 0:
            renew = rng.random(pop.n) >= _ABUSE_PERSISTENCE
            u = np.where(renew, rng.random(pop.n), u)
        p = 1.0 / (1.0 + np.exp(-(eta + _ABUSE_PROGRAMME * frac[t] * treated)))
        status[t] = u < p
        status_cf[t] = (u < 1.0 / (1.0 + np.exp(-eta)))[treated]
    pop.sensitive = status
    pop.sensitive_cf = status_cf


def _list_answers(rng: np.random.Generator, pop: _Population, sel: _Selection, wave: _Wave,
                  t: int) -> dict[str, np.ndarray]:
    """The list experiment and the direct question of one wave's respondents.

    Each respondent hears the control list (4 statements) or, with probability 1/2, the
    treatment list (the same and the sensitive statement), and answers the count
    truthfully (no design effect, no liars). Asked directly, a respondent whose
    household suffered abuse admits it with probability ``0.55 - 0.3 x conflict``
    (bounded to 0.15-0.7) and refuses more often: the direct question under-reports.
    """
    p = wave.person
    n = int(p.shape[0])
    v = sel.village[wave.village_pos]
    urban = pop.village_urban[v]
    conflict = np.array([_CERCLES[c].conflict for c in pop.cercle_names])[_cercle_of(pop, p)]
    status = pop.sensitive[t, p]
    assigned = (rng.random(n) < 0.5).astype(np.int64)
    village_shift = rng.normal(0.0, 0.5, size=(int(sel.village.shape[0]),))[wave.village_pos]
    count = np.zeros(n, dtype=np.int64)
    for p_rural, p_urban in _CONTROL_ITEMS:
        base = np.where(urban, p_urban, p_rural)
        logit = np.log(base / (1 - base)) + village_shift
        count += rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    count += assigned * status
    admits = rng.random(n) < np.clip(0.55 - 0.3 * conflict, 0.15, 0.7)
    direct = (status & admits).astype(np.int64)
    u = rng.random(n)
    refused = u < 0.02 + 0.06 * status
    dont_know = ~refused & (u < 0.04 + 0.06 * status)
    direct[refused] = _REFUSED
    direct[dont_know] = _DK
    return {SENSITIVE_ITEM: direct, LIST_COLUMNS[0]: assigned, LIST_COLUMNS[1]: count}


def _sensitive_truth(pop: _Population, groups: list[tuple[str, np.ndarray]],
                     cell: np.ndarray, n_cells: int) -> list[tuple[str, str, int, str, float]]:
    """Truth rows of the sensitive item: share of adults, change, DiD and ATT."""
    name = SENSITIVE_ITEM
    size = np.bincount(cell, minlength=n_cells).astype(float)
    rows: list[tuple[str, str, int, str, float]] = []
    share = np.empty((pop.n_waves, len(groups)))
    for t in range(pop.n_waves):
        yes = np.bincount(cell[pop.sensitive[t]], minlength=n_cells)
        for gi, (label, g) in enumerate(groups):
            share[t, gi] = yes[g].sum() / size[g].sum()
            rows.append(("share", name, t, label, share[t, gi]))
    for t in range(1, pop.n_waves):
        for gi in range(3):
            rows.append(("change", name, t, groups[gi][0], share[t, gi] - share[0, gi]))
        did = (share[t, 1] - share[0, 1]) - (share[t, 2] - share[0, 2])
        rows.append(("did", name, t, "treated=1 - treated=0", did))
        att = share[t, 1] - pop.sensitive_cf[t].mean()
        rows.append(("att", name, t, "treated=1", att))
    return rows


# ---------------------------------------------------------------------------------------
# The truth: exact values of the finite population


def _anova_icc(y: np.ndarray, cluster: np.ndarray, stratum: np.ndarray) -> float:
    """ANOVA estimator of the intra-cluster correlation of ``y`` within strata.

    ``cluster`` and ``stratum`` are non-negative integer codes; every cluster lies in one
    stratum.
    """
    n_i = np.bincount(cluster).astype(float)
    present = n_i > 0
    sum_i = np.bincount(cluster, y)
    cl_st = np.zeros(n_i.shape[0], dtype=np.int64)
    cl_st[cluster] = stratum
    n_h = np.bincount(stratum).astype(float)
    mean_h = np.bincount(stratum, y) / np.where(n_h > 0, n_h, 1.0)
    mean_i = sum_i[present] / n_i[present]
    ssb = float((n_i[present] * (mean_i - mean_h[cl_st[present]]) ** 2).sum())
    ssw = float((y * y).sum() - (n_i[present] * mean_i**2).sum())
    n_cl, n_st = int(present.sum()), int((n_h > 0).sum())
    df_b, df_w = n_cl - n_st, y.shape[0] - n_cl
    sq = np.bincount(cl_st[present], n_i[present] ** 2, n_h.shape[0])
    n0 = (y.shape[0] - float((sq[n_h > 0] / n_h[n_h > 0]).sum())) / df_b
    msb, msw = ssb / df_b, ssw / df_w
    return (msb - msw) / (msb + (n0 - 1) * msw)


def _truth(pop: _Population) -> pd.DataFrame:
    """Tidy table of the population's true values (see :class:`DemoSurvey`)."""
    n_cercles = len(pop.cercle_names)
    treated = pop.treated
    cell = pop.cercle * 2 + treated  # cercle x arm
    n_cells = 2 * n_cercles
    codes = [_CERCLES[c].code for c in pop.cercle_names]
    # groups as sums of cells
    groups: list[tuple[str, np.ndarray]] = [
        ("all", np.ones(n_cells, dtype=bool)),
        ("treated=1", np.arange(n_cells) % 2 == 1),
        ("treated=0", np.arange(n_cells) % 2 == 0),
    ] + [(f"cercle={codes[c]}", np.arange(n_cells) // 2 == c) for c in range(n_cercles)]
    size = np.bincount(cell, minlength=n_cells).astype(float)
    idx_t = np.flatnonzero(treated)
    rows: list[tuple[str, str, int, str, float]] = []
    for t in range(pop.n_waves):
        for label, g in groups:
            rows.append(("n_adults", "adults", t, label, float(size[g].sum() * pop.scale)))
    for item in POPULATION_ITEMS:
        name = item.name
        share = np.empty((pop.n_waves, len(groups)))
        for t in range(pop.n_waves):
            answered = pop.substantive[name][t]
            pos = np.bincount(cell[pop.positive[name][t]], minlength=n_cells)
            sub = np.bincount(cell[answered], minlength=n_cells)
            dk = np.bincount(cell[pop.answers[name][t] == _DK], minlength=n_cells)
            is_trust = name.startswith("trust_")
            if is_trust:
                total = np.bincount(cell[answered], pop.answers[name][t][answered], n_cells)
            for gi, (label, g) in enumerate(groups):
                share[t, gi] = pos[g].sum() / sub[g].sum()
                rows.append(("share", name, t, label, share[t, gi]))
                if is_trust:
                    rows.append(("mean", name, t, label, total[g].sum() / sub[g].sum()))
                if gi < 3:
                    rows.append(("dk", name, t, label, dk[g].sum() / size[g].sum()))
        for t in range(1, pop.n_waves):
            for gi in range(3):
                rows.append(("change", name, t, groups[gi][0], share[t, gi] - share[0, gi]))
            did = (share[t, 1] - share[0, 1]) - (share[t, 2] - share[0, 2])
            rows.append(("did", name, t, "treated=1 - treated=0", did))
            sub_t = pop.substantive[name][t][idx_t].sum()
            att = share[t, 1] - pop.positive_cf[name][t].sum() / sub_t
            rows.append(("att", name, t, "treated=1", att))
        ok = pop.substantive[name][0]
        icc = _anova_icc(pop.positive[name][0][ok].astype(float), pop.village[ok], cell[ok])
        rows.append(("icc", name, 0, "all", icc))
    if pop.sensitive.size:
        rows += _sensitive_truth(pop, groups, cell, n_cells)
    truth = pd.DataFrame(rows, columns=["quantity", "variable", "wave", "group", "value"])
    return truth


# ---------------------------------------------------------------------------------------
# Public API


class DemoSurvey:
    """The built-in Central Mali example: waves, questionnaire, population truth.

    Attributes
    ----------
    waves : pandas.DataFrame
        All waves stacked (column ``wave``: 0 baseline, 1 endline; with three waves
        1 midline and 2 endline), one row per respondent, valid for
        ``questionnaire``. Beyond the questionnaire's variables it holds the design
        columns ``hh_id``, ``n_elig_adults`` (adults in the household, Kish),
        ``w_base`` (inverse selection probability, expanded to census adults), ``w_nr``
        (after a nonresponse adjustment within cercle × sex × age-band classes, 18-24,
        25-54, 55+; panel follow-ups divide the previous wave's ``w_nr`` by a logistic
        retention propensity on sex, age band, displacement and cercle) and ``w_final``
        (``w_nr`` post-stratified to the census adults by cercle × sex). Skipped
        questions are empty (``<NA>``); ``ca_type`` holds space-separated codes. The list
        experiment: ``le_list`` (0 control list of 4 statements, 1 treatment list with
        the sensitive statement), ``le_count`` (how many apply), and the direct question
        ``abuse_hh`` (0/1, 8 refused, 9 don't know).
    truth : pandas.DataFrame
        The finite population's true values, tidy: ``quantity``, ``variable``, ``wave``,
        ``group``, ``value``. Quantities: ``share`` (share of "positive" answers among
        substantive ones -- trust items: 2 "somewhat" or 3 "a lot" among 0-3;
        ``safe_night``: 1-2 among 1-5; ``would_report``: 3-4 among 1-4), ``mean``
        (trust items, mean of 0-3), ``dk`` (share answering 9 among all adults),
        ``change`` (share at ``wave`` minus baseline), ``did`` (change in treated
        communes minus change in comparison communes), ``att`` (share in treated
        communes minus their share without the programme, same people and errors),
        ``icc`` (ANOVA intra-village correlation of the positive indicator within
        strata, baseline) and ``n_adults`` (census-scale adults). The sensitive item of
        the list experiment, ``abuse_hh``, has ``share`` (share of all adults whose
        household suffered abuse), ``change``, ``did`` and ``att``. ``group`` is ``all``,
        ``treated=1``, ``treated=0``, ``cercle=<code>`` or, for ``did``,
        ``treated=1 - treated=0``.
    params : dict
        The arguments the example was built with.

    Examples
    --------
    >>> demo = demo_survey(seed=3, n_per_wave=1000)
    >>> demo.truth.columns.tolist()
    ['quantity', 'variable', 'wave', 'group', 'value']
    >>> bool((demo.waves.groupby("psu_id")["stratum"].nunique() == 1).all())
    True
    """

    def __init__(self, waves: pd.DataFrame, truth: pd.DataFrame, params: dict[str, Any],
                 population: _Population) -> None:
        self.waves = waves
        self.truth = truth
        self.params = params
        self._population = population

    def __repr__(self) -> str:
        n = self.waves.groupby("wave").size().to_dict()
        return (f"DemoSurvey(seed={self.params['seed']}, respondents per wave={n}, "
                f"panel={self.params['panel']}, population={self._population.n * self._population.scale:,} adults)")

    @cached_property
    def questionnaire(self) -> Any:
        """The Central Mali questionnaire (:func:`perception.load_questionnaire`); with
        three waves its ``waves`` name the middle one the midline."""
        import dataclasses

        from ..questionnaire.loading import load_questionnaire

        q = load_questionnaire(questionnaire_path())
        if self.params["waves"] == 3:
            q = dataclasses.replace(q, waves={**q.waves, **_MIDLINE_WAVES})
        return q

    @property
    def wave_names(self) -> dict[int, str]:
        """Wave number -> name (``baseline``, ``midline``, ``endline``)."""
        return dict(enumerate(WAVE_NAMES[self.params["waves"]]))

    @cached_property
    def population(self) -> pd.DataFrame:
        """The finite population: one row per simulated adult (each stands for
        ``SCALE`` census adults) with geography, profile and the answers to the
        population items at each wave (columns ``<item>_w<wave>``)."""
        pop = self._population
        commune = pop.commune
        ci = pop.commune_cercle[commune]
        codes = np.array([_CERCLES[c].code for c in pop.cercle_names])
        out = pd.DataFrame({
            "cercle": codes[ci],
            "commune": pop.commune_rank[commune] + 1,
            "treated": pop.commune_treated[commune].astype(np.int8),
            "village": pop.village,
            "urban": pop.village_urban[pop.village].astype(np.int8),
            "household": pop.household,
            "sex": pop.sex, "age": pop.age, "educ": pop.educ, "activity": pop.activity,
            "displaced": pop.displaced, "ethnic": pop.ethnic,
        })
        for item in POPULATION_ITEMS:
            for t in range(pop.n_waves):
                out[f"{item.name}_w{t}"] = pop.answers[item.name][t]
        for t in range(pop.sensitive.shape[0]):
            out[f"{SENSITIVE_ITEM}_w{t}"] = pop.sensitive[t].astype(np.int8)
        return out

    def design(self) -> SurveyDesign:
        """The survey design of ``waves``: strata ``stratum``, PSUs ``psu_id``,
        weights ``w_final`` (villages revisited across waves keep their PSU id).

        Returns
        -------
        SurveyDesign
            The design of every wave, for ``perception.mean``, ``change``, ``did`` ...

        Examples
        --------
        >>> pc.demo_survey(seed=1).design()
        SurveyDesign(7989 rows in domain of 7989, 30 strata, 322 PSUs, 1 stage(s), degf=292, lonely_psu='fail', questionnaire='centre_mali_trust', lang='fr', missing_codes='exclude')
        """
        from ..survey.design import SurveyDesign

        return SurveyDesign(self.waves, weights="w_final", strata="stratum", psu="psu_id",
                            questionnaire=self.questionnaire)


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise PerceptionError(f"demo_survey: {name} must be {allowed}; got {value!r}")


def demo_survey(seed: int = 1, *, n_per_wave: int = 4000, waves: int = 2, panel: bool = False,
                effect: float = 0.08, trend: float = 0.03, icc: float = 0.10,
                hh_per_village: int = 15) -> DemoSurvey:
    """Simulate the Central Mali trust survey: population, waves and truth.

    Parameters
    ----------
    seed : int
        Seed of the random generator; the same seed gives identical results.
    n_per_wave : int
        Target number of respondents per wave (achieved within a few percent; a panel
        loses respondents to attrition after the baseline). Every stratum gets at least
        two villages, so about 750 respondents (with 15 households per village) is the
        smallest sample drawn.
    waves : {2, 3}
        Baseline and endline, or baseline, midline and endline.
    panel : bool
        Re-interview the baseline respondents at later waves (with attrition) instead
        of drawing new households in the same villages.
    effect : float
        True programme effect on the share trusting the police "somewhat/a lot" in
        treated communes at the last wave (half of it at a midline); other items get a
        fixed multiple of it (gendarmerie, garde nationale, protection civile: 1; army,
        courts: 0.5; mayor: 0.25; traditional and religious leaders, self-defence
        groups: 0; ``would_report``: 0.75; ``safe_night``: 0.5).
    trend : float
        Common change of every share between baseline and last wave, in every commune
        (none for self-defence groups).
    icc : float
        Target intra-village correlation of the binary trust items within strata.
    hh_per_village : int
        Households drawn per village and wave.

    Returns
    -------
    DemoSurvey
        The waves, the questionnaire, the population's truth and the design.

    Notes
    -----
    Design: strata cercle × treatment (30); villages drawn once by systematic PPS on
    household counts and revisited at every wave; ``hh_per_village`` households by
    simple random sampling (new ones each wave unless ``panel``); one adult by Kish
    selection. Nonresponse depends on sex, age and insecurity. The equivalent R design is
    ``svydesign(ids = ~psu_id, strata = ~stratum, weights = ~w_final, data = waves)``.

    Examples
    --------
    >>> demo = demo_survey(seed=1, n_per_wave=1500)
    >>> demo.waves.groupby("wave").size().between(1300, 1700).all()
    np.True_
    >>> t = demo.truth.set_index(["quantity", "variable", "group"])["value"]
    >>> abs(t["did", "trust_police", "treated=1 - treated=0"] - 0.08) < 0.01
    np.True_
    """
    _check("seed", seed, isinstance(seed, (int, np.integer)) and not isinstance(seed, bool),
           "an integer")
    _check("n_per_wave", n_per_wave,
           isinstance(n_per_wave, (int, np.integer)) and 200 <= n_per_wave <= 50_000,
           "an integer between 200 and 50000")
    _check("waves", waves, waves in (2, 3), "2 (baseline, endline) or 3 (with a midline)")
    _check("panel", panel, isinstance(panel, (bool, np.bool_)), "True or False")
    _check("effect", effect, isinstance(effect, (int, float)) and -0.3 <= effect <= 0.3,
           "a share between -0.3 and 0.3")
    _check("trend", trend, isinstance(trend, (int, float)) and -0.2 <= trend <= 0.2,
           "a share between -0.2 and 0.2")
    _check("icc", icc, isinstance(icc, (int, float)) and 0.0 <= icc <= 0.5,
           "between 0 and 0.5")
    _check("hh_per_village", hh_per_village,
           isinstance(hh_per_village, (int, np.integer)) and 5 <= hh_per_village <= 30,
           "an integer between 5 and 30")
    rng = np.random.default_rng(seed)
    pop = _build_population(rng, n_waves=waves, effect=float(effect), trend=float(trend),
                            icc=float(icc))
    n_villages = int(np.ceil(n_per_wave / (hh_per_village * _EXPECTED_RESPONSE)))
    sel = _select_villages(rng, pop, n_villages)
    census = _census()
    drawn = _draw_waves(rng, pop, sel, n_waves=waves, hh_per_village=hh_per_village,
                        panel=panel, census=census)
    # pseudonymous respondent ids: one per person in a panel, one per interview otherwise
    n_total = sum(w.person.shape[0] for w in drawn)
    if panel:
        persons = np.unique(np.concatenate([w.person for w in drawn]))
        codes = rng.choice(9_000_000, int(persons.shape[0]), replace=False) + 1_000_000
        id_of = dict(zip(persons.tolist(), codes.tolist(), strict=True))
        ids = [np.array([id_of[i] for i in w.person.tolist()]) for w in drawn]
    else:
        codes = rng.choice(9_000_000, n_total, replace=False) + 1_000_000
        ids = np.split(codes, np.cumsum([w.person.shape[0] for w in drawn])[:-1])
    frames = [_interview(rng, pop, sel, w, t, waves, ids[t]) for t, w in enumerate(drawn)]
    # the list experiment and its direct question: drawn last, from their own stream
    list_rng = _list_stream(seed)
    _build_sensitive(list_rng, pop)
    frames = [frame.assign(**_list_answers(list_rng, pop, sel, w, t))
              for t, (frame, w) in enumerate(zip(frames, drawn, strict=True))]
    data = pd.concat(frames, ignore_index=True)
    params = dict(seed=int(seed), n_per_wave=int(n_per_wave), waves=int(waves), panel=bool(panel),
                  effect=float(effect), trend=float(trend), icc=float(icc),
                  hh_per_village=int(hh_per_village), scale=SCALE)
    return DemoSurvey(data, _truth(pop), params, pop)


_EXPECTED_RESPONSE = 0.83
