"""The methods section of a report, written from the data: the waves and their
fieldwork dates, the sample by wave and stratum, response rates when the configuration
gives them, the design (strata, PSUs, degrees of freedom), the weighting, the treatment
of missing-value codes, the suppression and reliability rules, the software and date.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...survey.weighting import weight_diagnostics
from ..labelling import Labeller
from ..numbers import fmt_number, fmt_percent
from ..readable import MIN_DF
from .context import ReportContext
from .document import Section, plain_table


def software_version() -> str:
    """The installed version of perception (``unknown`` when run from a bare source
    folder)."""
    from importlib import metadata

    try:
        return metadata.version("perception-surveys")
    except metadata.PackageNotFoundError:
        return "unknown"


def _date_column(ctx: ReportContext) -> str | None:
    q = ctx.questionnaire
    for var in getattr(q, "variable_list", ()):
        if var.type == "date" and var.name in ctx.design.data.columns:
            return var.name
    return None


def _fmt_date(value: Any, lang: str) -> str:
    stamp = pd.Timestamp(value)
    if lang == "fr":
        months = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                  "septembre", "octobre", "novembre", "décembre")
        day = "1er" if stamp.day == 1 else str(stamp.day)
        return f"{day} {months[stamp.month - 1]} {stamp.year}"
    return f"{stamp.day} {stamp.strftime('%B')} {stamp.year}"


def methods_section(ctx: ReportContext, left_out: Mapping[str, str] | None = None,
                    date: str | None = None) -> Section:
    """The methods section of the report of ``ctx`` (``left_out``: figures that this
    data cannot give, and why)."""
    lang = ctx.lang
    lab = Labeller(ctx.labels, lang)
    fr = lang == "fr"
    data = ctx.design.data
    weights = np.asarray(ctx.design.weight_array, dtype=float)
    inside = np.asarray(ctx.design.in_domain, dtype=bool) & (weights > 0)
    roles = ctx.questionnaire.roles
    wave = ctx.wave
    blocks: list = []

    # waves and dates
    date_column = _date_column(ctx)
    lines = []
    for value in ctx.waves:
        rows = inside & (data[wave] == value).to_numpy()
        name = lab.value(wave, value)
        when = ""
        if date_column is not None:
            dates = pd.to_datetime(data.loc[rows, date_column], errors="coerce").dropna()
            if len(dates):
                first, last = _fmt_date(dates.min(), lang), _fmt_date(dates.max(), lang)
                when = (f", entretiens du {first} au {last}" if fr else
                        f", interviews from {first} to {last}")
        lines.append(f"{name} : {fmt_number(int(rows.sum()), lang)} enquêtés{when}" if fr else
                     f"{name}: {fmt_number(int(rows.sum()), lang)} respondents{when}")
    count = len(ctx.waves)
    blocks.append((f"L'enquête compte {count} vague{'s' if count > 1 else ''} : " if fr else
                   f"The survey has {count} wave{'s' if count > 1 else ''}: ")
                  + "; ".join(lines) + ".")
    if left_out:
        names = ", ".join(sorted(left_out))
        blocks.append(
            f"Figures qui demandent une vague de plus ou des zones d'intervention, absentes "
            f"de ce rapport : {names}." if fr else
            f"Figures that need another wave or intervention areas, not in this report: "
            f"{names}.")

    # the sample by wave and stratum
    stratum = roles.get("stratum")
    psu = roles.get("psu")
    keys = [wave] + ([stratum] if stratum and stratum in data.columns else [])
    frame = data.loc[inside, keys].copy()
    if psu and psu in data.columns:
        frame["_psu"] = data.loc[inside, psu].to_numpy()
    # one line per stratum, the respondents and clusters of each wave side by side
    line = keys[-1] if len(keys) > 1 else wave
    counts = frame.groupby(keys, sort=True).size().rename("n").reset_index()
    if "_psu" in frame.columns:
        counts["psus"] = frame.groupby(keys, sort=True)["_psu"].nunique().to_numpy()
    if len(keys) > 1:
        sample = pd.DataFrame({line: [lab.value(line, v) for v in pd.unique(counts[line])]})
        headers = {line: lab.variable(line)}
        for value in ctx.waves:
            sub = counts[counts[wave] == value].set_index(line)
            name = lab.value(wave, value)
            sample[f"n:{value}"] = [int(sub["n"].get(v, 0)) for v in pd.unique(counts[line])]
            headers[f"n:{value}"] = f"n — {name}"
            if "psus" in counts.columns:
                sample[f"psu:{value}"] = [int(sub["psus"].get(v, 0))
                                          for v in pd.unique(counts[line])]
                headers[f"psu:{value}"] = (f"Grappes — {name}" if fr else f"Clusters — {name}")
        numbers = tuple(c for c in sample.columns if c != line)
    else:
        sample = counts.assign(**{wave: [lab.value(wave, v) for v in counts[wave]]})
        headers = {wave: lab.variable(wave), "n": "n",
                   "psus": "Grappes" if fr else "Clusters"}
        numbers = ("n", "psus")
    blocks.append(plain_table(
        "sample", "Enquêtés par strate et par vague" if fr else
        "Respondents by stratum and wave", "n : enquêtés ; grappes : unités primaires "
        "(villages) enquêtées." if fr else "n: respondents; clusters: primary sampling units "
        "(villages) surveyed.", sample, headers, counts=numbers, lang=lang))

    # response rates
    rates = ctx.config.get("response_rates")
    if isinstance(rates, Mapping) and rates:
        parts = []
        for key, value in rates.items():
            shown = fmt_percent(value, lang, 1) if isinstance(value, int | float) else str(value)
            parts.append(f"{lab.value(wave, key)} : {shown}" if fr else
                         f"{lab.value(wave, key)}: {shown}")
        blocks.append(("Taux de réponse : " if fr else "Response rates: ") + "; ".join(parts)
                      + ".")
    else:
        blocks.append("Taux de réponse : non renseignés (à indiquer dans la configuration, "
                      "clé response_rates)." if fr else
                      "Response rates: not given (the configuration's response_rates key).")

    # the design
    n_strata = int(data.loc[inside, stratum].nunique()) if stratum in data.columns else 1
    n_psu = int(data.loc[inside, psu].nunique()) if psu and psu in data.columns else int(
        inside.sum())
    degf = int(ctx.design.degf)
    lonely = getattr(ctx.design, "lonely_psu", "fail")
    if fr:
        blocks.append(
            f"Plan de sondage : {n_strata} strate{'s' if n_strata > 1 else ''}"
            + (f" ({lab.variable(stratum)})" if stratum else "")
            + f", {fmt_number(n_psu, lang)} grappes"
            + (f" ({lab.variable(psu)})" if psu else "")
            + f", soit {fmt_number(degf, lang)} degrés de liberté (grappes moins strates). "
            "Les variances sont estimées par linéarisation de Taylor au premier degré "
            "(grappes ultimes), les intervalles de confiance par la loi de Student aux degrés "
            "de liberté de chaque estimation, comme le paquet survey de R. Les sous-groupes "
            "sont estimés dans le plan complet (domaines), sans retirer d'enquêtés. "
            f"Strates à une seule grappe : option « {lonely} ».")
    else:
        blocks.append(
            f"Sampling design: {n_strata} strat{'a' if n_strata > 1 else 'um'}"
            + (f" ({lab.variable(stratum)})" if stratum else "")
            + f", {fmt_number(n_psu, lang)} clusters"
            + (f" ({lab.variable(psu)})" if psu else "")
            + f", that is {fmt_number(degf, lang)} degrees of freedom (clusters minus "
            "strata). Variances are estimated by first-stage Taylor linearisation (ultimate "
            "clusters), confidence intervals from Student's t on each estimate's degrees of "
            "freedom, as R's survey package does. Subgroups are estimated as domains of the "
            f"full design, no respondent removed. Strata with one cluster: option '{lonely}'.")

    # weighting
    weight = roles.get("weight")
    diagnostics = weight_diagnostics(ctx.design, by=wave)
    parts = []
    for _, row in diagnostics.iterrows():
        if str(row[wave]) == "(all)":
            continue
        parts.append(
            (f"{lab.value(wave, row[wave])} : effet de plan de la pondération (Kish) "
             f"{fmt_number(row['deff_kish'], lang, 2)}, taille effective "
             f"{fmt_number(row['n_effective'], lang)}") if fr else
            (f"{lab.value(wave, row[wave])}: design effect of weighting (Kish) "
             f"{fmt_number(row['deff_kish'], lang, 2)}, effective size "
             f"{fmt_number(row['n_effective'], lang)}"))
    blocks.append(
        (f"Pondération : les poids de la variable {weight} ({lab.variable(weight)}) sont "
         "utilisés tels que fournis avec les données (ils portent les étapes de pondération "
         "de l'enquête : probabilités de sélection, non-réponse, calage sur la population). "
         if fr else
         f"Weighting: the weights of variable {weight} ({lab.variable(weight)}) are used as "
         "delivered with the data (they carry the survey's weighting steps: selection "
         "probabilities, nonresponse, calibration to the population). ")
        + "; ".join(parts) + ".")

    # missing codes
    codes: dict[Any, str] = {}
    q = ctx.questionnaire
    items = [i for i in dict.fromkeys([*ctx.config["trust_items"], *ctx.config["fsi_items"],
                                       *ctx.config["relation_items"]]) if i in q]
    for item in items:
        labels = q.labels(item, lang if lang in q.languages else None)
        for code in q.missing_codes(item):
            codes.setdefault(code, labels.get(code, str(code)))
    listed = ", ".join(f"{c} « {t} »" if fr else f'{c} "{t}"' for c, t in sorted(
        codes.items(), key=lambda kv: str(kv[0])))
    blocks.append(
        (f"Non-réponse : les codes de non-réponse déclarés dans le questionnaire ({listed}) "
         "sont exclus des pourcentages, moyennes et indices ; les répartitions des réponses "
         "(figures en barres empilées) et la figure de non-réponse les montrent à part. "
         "Les pourcentages se lisent donc parmi les réponses exprimées.") if fr else
        (f"Nonresponse: the nonresponse codes the questionnaire declares ({listed}) are "
         "left out of percentages, means and indices; the distributions of answers (stacked "
         "bars) and the nonresponse figure show them apart. Percentages are thus among the "
         "substantive answers."))

    # suppression and reliability
    blocks.append(
        (f"Confidentialité et précision : une estimation reposant sur moins de "
         f"{ctx.min_cell} enquêtés n'est pas publiée (« masqué ») ; une variation ou un effet "
         "l'est seulement si chacune des cellules comparées atteint ce seuil. Une réponse "
         f"donnée par moins de {ctx.min_count} enquêtés (mais au moins un) est masquée elle "
         "aussi, avec les cellules qui permettraient de la retrouver : une autre réponse de "
         "la même ligne (les parts d'une ligne font 100 %) et la même réponse dans un autre "
         "domaine (les domaines s'additionnent). La colonne "
         "« Fiabilité » signale « faible » une estimation dont le coefficient de variation "
         f"dépasse 30 % ou qui repose sur moins de {MIN_DF} degrés de liberté (pour une "
         "variation ou un effet, seuls les degrés de liberté comptent, un coefficient de "
         "variation n'ayant pas de sens près de zéro). Les tailles d'échantillon des cellules "
         "masquées ne sont pas données.") if fr else
        (f"Confidentiality and precision: an estimate resting on fewer than {ctx.min_cell} "
         "respondents is not published ('suppressed'); a change or an effect is published "
         "only when each cell compared reaches that threshold. An answer given by fewer "
         f"than {ctx.min_count} respondents (but some) is suppressed too, with the cells that "
         "would let it be recomputed: another answer of the same line (the shares of a line "
         "sum to 100%) and the same answer in another domain (the domains add up). "
         "The 'Reliability' column says "
         "'low' for an estimate whose coefficient of variation exceeds 30% or that rests on "
         f"fewer than {MIN_DF} degrees of freedom (for a change or an effect, only the "
         "degrees of freedom count: a coefficient of variation means nothing near zero). "
         "The sample sizes of suppressed cells are not given."))

    # software and date
    today = date or pd.Timestamp.today().date().isoformat()
    version = software_version()
    blocks.append(
        f"Logiciel : perception {version} (Python {platform.python_version()}), rapport "
        f"produit le {_fmt_date(today, lang)}." if fr else
        f"Software: perception {version} (Python {platform.python_version()}), report "
        f"produced on {_fmt_date(today, lang)}.")
    return Section("Méthodes" if fr else "Methods", blocks)
