"""Figures (perception/outputs/figures): every figure type renders from a result table, with its
title, axis labels, points / bars and interval whiskers, labels in French or English,
sample sizes, a source note, and a mark where a cell is suppressed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from perception.disclosure.suppression import publishable
from perception.errors import DisclosureError, PerceptionError
from perception.outputs import figures as F
from perception.outputs.figures.common import source_note_of as _source_note

mpl.use("Agg")

ROOT = Path(__file__).resolve().parents[2]

#: the respondents threshold used in these tests
MIN_CELL = 30

LABELS = {
    "fr": {"trust_police": "La Police", "trust_gend": "La Gendarmerie", "wave": "Vague",
           "sex": "Sexe", "cercle": "Cercle",
           "values": None},
    "en": {"trust_police": "The Police", "trust_gend": "The Gendarmerie", "wave": "Wave",
           "sex": "Sex", "cercle": "Cercle"},
}


class FakeQuestionnaire:
    """Label source with the questionnaire's API (label, labels)."""

    TEXT = {
        "fr": {"trust_police": "La Police", "trust_gend": "La Gendarmerie",
               "vict_theft": "Vol", "ca_aware": "Informé", "wave": "Vague", "sex": "Sexe",
               "cercle": "Cercle", "treated": "Zone", "age_grp": "Âge"},
        "en": {"trust_police": "The Police", "trust_gend": "The Gendarmerie",
               "vict_theft": "Theft", "ca_aware": "Aware", "wave": "Wave", "sex": "Sex",
               "cercle": "Cercle", "treated": "Area", "age_grp": "Age"},
    }
    CODES = {
        "fr": {"wave": {0: "Référence", 1: "Fin"}, "sex": {1: "Homme", 2: "Femme"},
               "cercle": {11: "Mopti", 12: "Bandiagara", 13: "Bankass"},
               "treated": {0: "Comparaison", 1: "Intervention"},
               "trust_police": {0: "Pas du tout", 1: "Un peu", 2: "Partiellement",
                                3: "Beaucoup", 8: "Refus", 9: "Ne sait pas"},
               "age_grp": {1: "18–24", 2: "25+"}},
        "en": {"wave": {0: "Baseline", 1: "Endline"}, "sex": {1: "Male", 2: "Female"},
               "cercle": {11: "Mopti", 12: "Bandiagara", 13: "Bankass"},
               "treated": {0: "Comparison", 1: "Intervention"},
               "trust_police": {0: "Not at all", 1: "Just a little", 2: "Somewhat",
                                3: "A lot", 8: "Refused", 9: "Don't know"},
               "age_grp": {1: "18–24", 2: "25+"}},
    }

    def label(self, name, lang):
        return self.TEXT[lang].get(name, "")

    def labels(self, name, lang):
        return dict(self.CODES[lang].get(name, {}))


Q = FakeQuestionnaire()


def _estimates(rows: list[dict]) -> pd.DataFrame:
    """A result table in the estimators' layout from (by..., variable, estimate, n)."""
    table = pd.DataFrame(rows)
    se = np.sqrt(table["estimate"] * (1 - table["estimate"]) / table["n"]) * 1.5
    table["se"] = se
    table["ci_low"] = table["estimate"] - 1.97 * se
    table["ci_high"] = table["estimate"] + 1.97 * se
    table["df"] = 60
    table["deff"] = 1.8
    return table


@pytest.fixture
def trust_by_wave() -> pd.DataFrame:
    return _estimates([
        {"wave": w, "variable": v, "estimate": e, "n": n}
        for w, v, e, n in [(0, "trust_police", 0.45, 900), (0, "trust_gend", 0.55, 880),
                           (1, "trust_police", 0.52, 910), (1, "trust_gend", 0.60, 12)]
    ])


def source_note_of(fig: Figure) -> str:
    """The source note with its line breaks and non-breaking spaces as plain spaces."""
    return " ".join(_source_note(fig).replace("\u00a0", " ").split())


def _errorbars(fig: Figure) -> list[ErrorbarContainer]:
    return [c for ax in fig.axes for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _points(fig: Figure) -> int:
    return sum(len(c.lines[0].get_xdata()) for c in _errorbars(fig) if c.lines[0] is not None)


def _whisker_segments(fig: Figure) -> int:
    return sum(len(c.lines[2][0].get_segments()) for c in _errorbars(fig) if c.lines[2])


def _gid_count(fig: Figure, gid: str) -> int:
    return sum(1 for a in fig.findobj() if a.get_gid() == gid)


def _texts(fig: Figure) -> str:
    parts = [t.get_text() for t in fig.findobj(mpl.text.Text)]
    return "\n".join(parts).replace("\u202f", " ").replace("\u00a0", " ")


def _title(fig: Figure) -> str:
    return F.title_of(fig)


def _check_common(fig: Figure, *, n_values: list[str]) -> None:
    assert isinstance(fig, Figure)
    assert _title(fig), "every figure has a title"
    note = source_note_of(fig)
    assert note.startswith(("Source", "Source :")), note
    texts = _texts(fig)
    for n in n_values:
        assert n in texts, f"sample size {n} not shown"


# ------------------------------------------------------------------ trust by actor --
def test_trust_by_actor_structure_and_suppression(trust_by_wave):
    fig = F.plot_trust_by_actor(trust_by_wave, labels=Q, lang="fr", min_cell=MIN_CELL)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Part des réponses exprimées (%)"
    # two groups (waves): one errorbar container each; the small cell is not drawn
    assert len(_errorbars(fig)) == 2
    assert _points(fig) == 3
    assert _whisker_segments(fig) == 3
    assert _gid_count(fig, "suppressed") == 1
    assert ("masqué (n < 30, ou réponse donnée par moins de 10 enquêtés, et les cellules "
            "qui permettraient de la retrouver)") in source_note_of(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels) == {"La Police", "La Gendarmerie"}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Référence", "Fin"]
    _check_common(fig, n_values=["900", "880", "910"])


def test_a_share_of_few_answers_is_marked_without_a_size(trust_by_wave):
    # 99.5% of 910: 5 respondents outside the top box; the same item of wave 0 is
    # hidden with it (the margin over waves would tell it)
    table = trust_by_wave.assign(estimate=[0.45, 0.55, 0.995, 0.60], n=[900, 880, 910, 500],
                                 n_category=[405, 484, 905, 300])
    fig = F.plot_trust_by_actor(table, labels=Q, lang="fr", min_cell=MIN_CELL)
    marks = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "suppressed"]
    assert marks == ["▨ masqué"] * 2
    assert "moins de 10 enquêtés" in source_note_of(fig)
    assert "99" not in _texts(fig) and "910" not in source_note_of(fig)


def test_trust_by_actor_in_english(trust_by_wave):
    fig = F.plot_trust_by_actor(trust_by_wave, labels=Q, lang="en")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Share of substantive answers (%)"
    assert {t.get_text() for t in ax.get_yticklabels()} == {"The Police", "The Gendarmerie"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Baseline", "Endline"]
    assert ("suppressed (n < 30, or an answer given by fewer than 10 respondents, and the "
            "cells that would reveal it)") in source_note_of(fig)
    assert "Trust" in _title(fig)


def test_values_of_suppressed_cells_never_reach_the_figure(trust_by_wave):
    hidden = trust_by_wave.copy()
    hidden.loc[3, "estimate"] = 0.987654
    fig = F.plot_trust_by_actor(hidden, labels=Q)
    xs = np.concatenate([c.lines[0].get_xdata() for c in _errorbars(fig)])
    assert not np.any(np.isclose(xs, 98.7654))
    # a lower threshold shows it
    fig = F.plot_trust_by_actor(hidden, labels=Q, min_cell=10)
    xs = np.concatenate([c.lines[0].get_xdata() for c in _errorbars(fig)])
    assert np.any(np.isclose(xs, 98.7654))
    assert _gid_count(fig, "suppressed") == 0


def test_figure_draws_into_given_axes(trust_by_wave):
    fig = Figure()
    ax = fig.add_subplot()
    out = F.plot_trust_by_actor(trust_by_wave, labels=Q, ax=ax, source_note="Source : test")
    assert out is fig
    assert ax.get_title(loc="left")
    assert source_note_of(fig) .startswith("Source : test")


# ------------------------------------------------------------------------ likert --
def _likert_table(n_small: int = 500) -> pd.DataFrame:
    rows = []
    for wave, n in [(0, 800), (1, n_small)]:
        shares = {0: 0.2, 1: 0.25, 2: 0.3, 3: 0.19, 8: 0.02, 9: 0.04}
        for code, share in shares.items():
            rows.append({"wave": wave, "variable": "trust_police", "category": code,
                         "estimate": share, "n": n, "missing_code": code in (8, 9)})
    table = _estimates(rows)
    return table[["wave", "variable", "category", "estimate", "se", "ci_low", "ci_high",
                  "df", "deff", "n", "missing_code"]]


def test_likert_diverging_bars_and_languages():
    table = _likert_table()
    fig = F.plot_likert(table, labels=Q, lang="fr")
    ax = fig.axes[0]
    scale = [p for p in ax.patches if str(p.get_gid()).startswith("scale:")]
    missing = [p for p in ax.patches if str(p.get_gid()).startswith("missing:")]
    assert len(scale) == 2 * 4 and len(missing) == 2 * 2
    # negative answers left of zero, positive right of it
    for p in scale:
        code = int(p.get_gid().split(":")[1])
        if code <= 1:
            assert p.get_x() + p.get_width() <= 1e-9
        else:
            assert p.get_x() >= -1e-9
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == ["Pas du tout", "Un peu", "Partiellement", "Beaucoup"]
    assert "Ne sait pas" in legend
    assert ax.get_xlabel() == "Part des enquêtés (%)"
    _check_common(fig, n_values=["800", "500"])
    en = F.plot_likert(table, labels=Q, lang="en")
    legend = [t.get_text() for t in en.axes[0].get_legend().get_texts()]
    assert legend[:4] == ["Not at all", "Just a little", "Somewhat", "A lot"]


def test_likert_suppressed_row_is_marked():
    # wave 1 (20 respondents) is suppressed; its answers (4 to 6 respondents each) would
    # follow from a margin over the waves minus wave 0: wave 0 is hidden with it
    fig = F.plot_likert(_likert_table(n_small=20), labels=Q, min_cell=MIN_CELL)
    ax = fig.axes[0]
    scale = [p for p in ax.patches if str(p.get_gid()).startswith("scale:")]
    assert scale == []
    assert _gid_count(fig, "suppressed") >= 2


def test_likert_hidden_answer_counts():
    table = _likert_table(n_small=300)
    table["n_category"] = (table["estimate"] * table["n"]).round().astype(int)
    # wave 1: "refused" (code 8) given by 6 respondents: it and the next smallest answer
    # of wave 1 (code 9, 12) are hidden, and both codes of wave 0 through the margin
    out = F.plot_likert(table, labels=Q, min_cell=MIN_CELL)
    ax = out.axes[0]
    scale = [p for p in ax.patches if str(p.get_gid()).startswith("scale:")]
    missing = [p.get_gid() for p in ax.patches if str(p.get_gid()).startswith("missing:")]
    assert len(scale) == 2 * 4  # the scale of both waves is drawn
    assert missing == []  # the hidden missing codes are left out of the bars
    assert "0.02" not in _texts(out) and "masqué" in source_note_of(out)


# ---------------------------------------------------------------------- heat map --
def test_heatmap_cells_and_suppression():
    rows = [{"cercle": c, "variable": v, "estimate": e, "n": n}
            for c, n in [(11, 300), (12, 25), (13, 200)]
            for v, e in [("trust_police", 0.4), ("trust_gend", 0.6)]]
    fig = F.plot_heatmap(_estimates(rows), labels=Q, lang="fr")
    ax = fig.axes[0]
    image = [a for a in ax.get_images() if a.get_gid() == "heatmap"][0]
    data = image.get_array()
    assert data.shape == (3, 2)
    assert int(np.ma.count_masked(data)) == 2  # the small cercle's two cells
    assert _gid_count(fig, "suppressed") == 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Mopti", "Bandiagara", "Bankass"]
    values = [t.get_text() for t in ax.texts if t.get_gid() == "value"]
    assert sorted(values) == ["40", "40", "60", "60"]
    _check_common(fig, n_values=["300", "200"])


# ------------------------------------------------------------------------- index --
def test_index_by_domain_and_wave():
    rows = []
    for c in (11, 12, 13):
        for w in (0, 1):
            rows.append({"cercle": c, "wave": w, "variable": "index",
                         "estimate": 40.0 + 5 * w + c - 11, "n": 150})
    table = pd.DataFrame(rows).assign(se=2.0, df=60, deff=1.5)
    table["ci_low"] = table["estimate"] - 4
    table["ci_high"] = table["estimate"] + 4
    fig = F.plot_index(table, labels=Q, lang="en", row="cercle", group="wave")
    assert len(_errorbars(fig)) == 2
    assert _points(fig) == 6
    assert fig.axes[0].get_xlim() == (0.0, 100.0)
    assert fig.axes[0].get_xlabel() == "Index (0–100)"
    _check_common(fig, n_values=["150"])


# ------------------------------------------------------------------------ change --
def _change_table():
    table = pd.DataFrame({
        "cercle": [11, 12, 13], "variable": "trust_police_high", "from": 0, "to": 1,
        "estimate": [0.05, -0.02, 0.10], "se": [0.03, 0.04, 0.05], "df": 60,
        "p": [0.1, 0.6, 0.05], "n": [300, 220, 12],
    })
    table["ci_low"] = table["estimate"] - 2 * table["se"]
    table["ci_high"] = table["estimate"] + 2 * table["se"]
    return table


def test_change_forest_with_overall():
    overall = pd.DataFrame({"variable": ["trust_police_high"], "from": [0], "to": [1],
                            "estimate": [0.04], "se": [0.01], "ci_low": [0.02],
                            "ci_high": [0.06], "df": [60], "p": [0.001], "n": [1500]})
    fig = F.plot_change(_change_table(), overall=overall, labels=Q, lang="fr")
    ax = fig.axes[0]
    assert _points(fig) == 3  # two cercles and the whole sample; one suppressed
    assert _gid_count(fig, "suppressed") == 1
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Mopti", "Bandiagara", "Bankass", "Ensemble"]
    assert ax.get_xlabel() == "Variation (points de pourcentage)"
    assert any(abs(line.get_xdata()[0]) < 1e-12 for line in ax.get_lines()
               if len(line.get_xdata()) == 2)  # the zero line
    assert "Référence → Fin" in ax.get_title(loc="left")
    _check_common(fig, n_values=["300", "220", "1 500"])


def test_change_with_a_small_wave_is_suppressed_and_shows_its_smaller_wave():
    """A change table from pc.change carries n_from/n_to: a row whose n (both waves)
    reaches min_cell but one of whose waves does not is suppressed, and the n shown is
    the smaller wave's."""
    table = _change_table().assign(n=[300, 220, 60], n_from=[150, 110, 48],
                                   n_to=[150, 110, 12])
    fig = F.plot_change(table, labels=Q, lang="en")
    assert _points(fig) == 2 and _gid_count(fig, "suppressed") == 1
    shown = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "n"]
    # the suppressed change shows no size, in the rows or the footer
    assert shown == ["150", "110"]
    assert "n = 110 to 150 (n: the smaller of the two waves compared)" in _footer(fig)
    assert "12" not in _footer(fig)
    effects = pd.DataFrame({"cercle": [11, 12], "variable": "y", "period": 1,
                            "estimate": 0.05, "se": 0.02, "ci_low": 0.01, "ci_high": 0.09,
                            "df": 60, "p": 0.01, "n": [400, 200], "n_min": [90, 20]})
    fig = F.plot_effects(effects, labels=Q, lang="fr")
    assert _points(fig) == 1 and _gid_count(fig, "suppressed") == 1
    assert "la plus petite des quatre cellules" in _footer(fig)


def _footer(fig) -> str:
    return " ".join(fig.get_supxlabel().split())  # the footer is wrapped


def test_change_table_without_n_is_refused():
    with pytest.raises(DisclosureError, match="'n' column"):
        F.plot_change(_change_table().drop(columns="n"))


# ---------------------------------------------------------------------------- DiD --
def test_did_cells_over_waves_with_effect():
    cells = _estimates([{"treated": t, "wave": w, "variable": "trust_police_high",
                         "estimate": e, "n": 400}
                        for t, w, e in [(0, 0, 0.5), (0, 1, 0.53), (1, 0, 0.46), (1, 1, 0.58)]])
    effects = pd.DataFrame({"variable": ["trust_police_high"], "period": [1],
                            "estimate": [0.09], "se": [0.03], "ci_low": [0.03],
                            "ci_high": [0.15], "df": [60], "p": [0.003], "n": [400]})
    fig = F.plot_did(cells, effects=effects, labels=Q, lang="en")
    ax = fig.axes[0]
    assert len(_errorbars(fig)) == 2  # intervention and comparison
    assert _points(fig) == 4 and _whisker_segments(fig) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Baseline", "Endline"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Intervention", "Comparison"]
    assert "+9.0 pts [3.0, 15.0]" in ax.get_title(loc="left")
    assert ax.get_ylabel() == "Share of substantive answers (%)"
    _check_common(fig, n_values=["n = 400"])
    fr = F.plot_did(cells, effects=effects, labels=Q, lang="fr")
    assert "+9,0 pts [3,0 ; 15,0]" in fr.axes[0].get_title(loc="left")


def test_did_small_cell_is_marked():
    cells = _estimates([{"treated": t, "wave": w, "variable": "y", "estimate": 0.5, "n": n}
                        for t, w, n in [(0, 0, 400), (0, 1, 400), (1, 0, 400), (1, 1, 5)]])
    fig = F.plot_did(cells, labels=Q)
    assert _points(fig) == 3
    assert _gid_count(fig, "suppressed") == 1


# ----------------------------------------------------------------- subgroup effects --
def test_subgroup_effects_stacked_from_several_by():
    def effects(by, values, n):
        table = pd.DataFrame({by: values, "variable": "y", "period": 1,
                              "estimate": 0.05, "se": 0.02, "ci_low": 0.01,
                              "ci_high": 0.09, "df": 60, "p": 0.01, "n": n})
        return table
    overall = effects("sex", [np.nan], [800]).drop(columns="sex")
    stacked = pd.concat([overall, effects("sex", [1, 2], [400, 400]),
                         effects("age_grp", [1, 2], [25, 600])], ignore_index=True)
    stacked = stacked[["sex", "age_grp", *[c for c in stacked.columns
                                          if c not in ("sex", "age_grp")]]]
    fig = F.plot_effects(stacked, labels=Q, lang="fr")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Ensemble", "Sexe : Homme", "Sexe : Femme", "Âge : 18–24", "Âge : 25+"]
    assert _points(fig) == 4 and _gid_count(fig, "suppressed") == 1
    assert ax.get_xlabel() == "Effet estimé (points de pourcentage)"
    _check_common(fig, n_values=["800", "600"])


# ------------------------------------------------------------------------ weights --
def test_weight_distribution_from_binned_table():
    bins = pd.DataFrame({"wave": [0] * 4 + [1] * 4, "bin_low": [0, 100, 200, 300] * 2,
                         "bin_high": [100, 200, 300, 400] * 2,
                         "n": [100, 300, 90, 10, 120, 280, 95, 5]})
    bins["estimate"] = bins["n"] / bins.groupby("wave")["n"].transform("sum")
    diagnostics = pd.DataFrame({"wave": ["(all)", 0, 1], "n": [1000, 500, 500],
                                "deff_kish": [1.4, 1.38, 1.42],
                                "n_effective": [714.0, 362.0, 352.0]})
    fig = F.plot_weight_distribution(bins, diagnostics=diagnostics, labels=Q, lang="fr")
    ax = fig.axes[0]
    bars = [p for c in ax.containers if isinstance(c, BarContainer) for p in c.patches]
    assert len(bars) == 6  # the two bins with fewer than 30 respondents are suppressed
    assert _gid_count(fig, "suppressed") == 2
    legend = "\n".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "Kish" in legend and "1,38" in legend and "n effectif : 362" in legend
    assert ax.get_xlabel() == "Poids de sondage"
    _check_common(fig, n_values=["n = 500"])


def test_design_effects_with_kish_line(trust_by_wave):
    fig = F.plot_design_effects(trust_by_wave, labels=Q, lang="en", kish=1.4)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Design effect"
    assert _gid_count(fig, "kish") == 1
    assert _points(fig) == 3 and _gid_count(fig, "suppressed") == 1


# ------------------------------------------------------------------- themes --
def test_victimisation_bars_with_whiskers():
    table = _estimates([{"wave": w, "variable": v, "estimate": e, "n": n}
                        for w, v, e, n in [(0, "vict_theft", 0.17, 4000),
                                           (1, "vict_theft", 0.16, 4000),
                                           (0, "vict_attack", 0.06, 4000),
                                           (1, "vict_attack", 0.05, 20)]])
    fig = F.plot_victimisation(table, labels=Q, lang="fr")
    ax = fig.axes[0]
    bars = [p for c in ax.containers if isinstance(c, BarContainer) for p in c.patches]
    assert len(bars) == 3
    assert _whisker_segments(fig) == 3
    assert _gid_count(fig, "suppressed") == 1
    assert {t.get_text() for t in ax.get_yticklabels()} == {"Vol", "vict_attack"}
    _check_common(fig, n_values=["4 000"])


def test_awareness_by_area_and_wave():
    table = _estimates([{"treated": t, "wave": w, "variable": "ca_aware", "estimate": e,
                         "n": 500} for t, w, e in [(0, 0, 0.04), (0, 1, 0.09),
                                                   (1, 0, 0.06), (1, 1, 0.61)]])
    fig = F.plot_awareness(table, labels=Q, lang="en")
    ax = fig.axes[0]
    bars = [p for c in ax.containers if isinstance(c, BarContainer) for p in c.patches]
    assert len(bars) == 4 and _whisker_segments(fig) == 4
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "Intervention — Baseline" and legend[-1] == "Comparison — Endline"
    _check_common(fig, n_values=["n = 500"])


def test_nonresponse_stacks_reasons():
    rows = []
    for v, dk, ref in [("trust_police", 0.03, 0.01), ("trust_gend", 0.05, 0.02)]:
        for cat, e in [("dont_know", dk), ("refused", ref), ("not_applicable", 0.0),
                       ("other_code", 0.0), ("missing", 0.0), ("any", dk + ref)]:
            rows.append({"variable": v, "category": cat, "estimate": e, "count": 10,
                         "n": 1000})
    fig = F.plot_nonresponse(pd.DataFrame(rows), labels=Q, lang="fr")
    ax = fig.axes[0]
    reasons = [p.get_gid() for p in ax.patches if str(p.get_gid()).startswith("reason:")]
    assert sorted(reasons) == sorted(["reason:dont_know", "reason:refused"] * 2)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Ne sait pas", "Refus"]
    _check_common(fig, n_values=["1 000"])


# ------------------------------------------------------------- house rules --
def test_every_figure_type_is_listed():
    assert len(F.FIGURE_TYPES) >= 12
    for name, function in F.FIGURE_TYPES.items():
        assert function.__name__ == f"plot_{name}", name


def test_rcparams_are_left_alone(trust_by_wave):
    before = dict(mpl.rcParams)
    F.plot_trust_by_actor(trust_by_wave, labels=Q)
    after = dict(mpl.rcParams)
    assert before == after


def test_bad_input_is_explained(trust_by_wave):
    with pytest.raises(PerceptionError, match="no column.*'ci_low'"):
        F.plot_trust_by_actor(trust_by_wave.drop(columns=["ci_low"]))
    with pytest.raises(PerceptionError, match="lang='de'"):
        F.plot_trust_by_actor(trust_by_wave, lang="de")
    with pytest.raises(PerceptionError, match="result table"):
        F.plot_trust_by_actor([1, 2, 3])
    with pytest.raises(PerceptionError, match="group='sex' is not a column"):
        F.plot_trust_by_actor(trust_by_wave, group="sex")


def test_figures_never_import_the_estimators():
    code = ("import sys, perception.outputs.figures; "
            "bad = [m for m in sys.modules if m.startswith(('perception.survey', "
            "'perception.analysis'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_option_rows_are_drawn_one_each():
    """The options of a select-multiple question (or a proportion's levels): each its
    own row in the subgroup and change figures, labelled by the option, none drawn over
    another."""
    import perception as pc

    demo = pc.demo_survey(seed=1, n_per_wave=400)
    d, q = demo.design(), demo.questionnaire
    codes = q.variable("ca_type").codes
    shares = pc.proportion(d, "ca_type", by="wave")
    fig = F.plot_subgroups(shares, group="wave", labels=q, lang="en", min_cell=1)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [codes[c]["en"] for c in codes]
    # every option drawn but those given by fewer than 10 respondents (and their margin)
    shown = ~publishable(shares, 1)["suppressed"]
    assert 0 < shown.sum() < len(shares) and _points(fig) == shown.sum()
    change = pc.change(d, "ca_type", over="wave", by="treated")
    fig = F.plot_change(change, labels=q, lang="en", min_cell=1)
    ticks = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_yticklabels()]
    assert len(ticks) == len(change) == 2 * len(codes)
    assert any(t.endswith("— Water") for t in ticks)
