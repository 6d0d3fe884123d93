"""The small-area figure (perception/figures/small_area.py): every area's model-based
estimate with its interval, grouped and sorted; the direct estimate and n drawn only for
areas with at least min_cell respondents, whatever table is passed; French and English."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

import perception as pc
from perception.errors import PerceptionError
from perception.outputs.figures import plot_small_areas
from perception.outputs.figures.common import source_note_of

mpl.use("Agg")

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
MIN_CELL = 30


@pytest.fixture(scope="module")
def result() -> pc.FayHerriotResult:
    milk = pd.read_csv(REFERENCE / "milk.csv")
    data = milk.assign(commune=[f"C{a:03d}" for a in milk["small_area"]],
                       cercle=milk["major_area"] * 10 + milk["small_area"] % 2,
                       region=np.where(milk["major_area"] <= 2, 1, 2),
                       n=np.where(milk["small_area"] % 3 == 0, 20, milk["samp_size"]))
    sampled = data[data["small_area"] <= 40]
    areas = data[["commune", "cercle", "region", "major_area"]]
    return pc.fay_herriot(sampled, "direct_est ~ C(major_area)", area="commune",
                          se="std_error", n_psu=None, areas=areas, keep=["cercle", "region"])


def _containers(fig: Figure, gid: str) -> list[ErrorbarContainer]:
    ax = fig.axes[0]
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)
            and c.lines[0].get_gid() == gid]


def _texts(fig: Figure, gid: str) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts if t.get_gid() == gid]


def test_published_table_figure(result):
    pub = result.published()
    fig = plot_small_areas(pub, lang="en", scale=1.0)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == "Small-area estimates and their precision"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # one header per region, then its areas: cercle and anonymised code, never a name
    assert labels[0] == "1" and labels.count("2") == 1
    assert len(labels) == len(pub) + 2
    assert not any(name.startswith("C0") for name in labels)
    assert all(" · A" in label for label in labels if label not in ("1", "2"))
    # every area's model-based estimate is drawn, directs only where n >= 30
    assert len(_containers(fig, "model")) == len(pub)
    big = (pd.to_numeric(pub["n"], errors="coerce") >= MIN_CELL).sum()
    assert len(_containers(fig, "direct")) == big
    n_texts = _texts(fig, "n")
    assert n_texts.count("n\u00a0<\u00a030") == int(pub["direct_suppressed"].sum())
    assert n_texts.count("no sample") == int(pub["synthetic"].sum()) == 3
    assert all(int(t.replace(",", "")) >= MIN_CELL for t in n_texts if t[0].isdigit())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("EBLUP" in t for t in legend) and any("synthetic" in t for t in legend)
    note = source_note_of(fig)
    assert "Fay–Herriot model, REML, Prasad–Rao MSE" in note and "at least 30" in note


def test_sorted_by_estimate_within_each_group(result):
    pub = result.published(reveal_areas=True)
    fig = plot_small_areas(pub, lang="en", scale=1.0)
    model = _containers(fig, "model")
    xs = [c.lines[0].get_xdata()[0] for c in model]
    ys = [c.lines[0].get_ydata()[0] for c in model]
    order = np.argsort(ys)[::-1]  # top to bottom
    regions = pub.set_index("area").loc[
        [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text().startswith("C")],
        "region"].to_numpy()
    xs = np.asarray(xs)[order]
    for region in (1, 2):
        part = xs[regions == region]
        assert np.all(np.diff(part) <= 1e-12)


def test_small_areas_direct_never_drawn_even_from_the_full_table(result):
    """The estimates table holds every direct estimate: the figure still drops those of
    areas under min_cell respondents."""
    est = result.estimates
    fig = plot_small_areas(est, lang="fr", scale=1.0)
    drawn = sorted(round(c.lines[0].get_xdata()[0], 12) for c in _containers(fig, "direct"))
    allowed = sorted(round(v, 12) for v in est.loc[est["n"] >= MIN_CELL, "direct"])
    assert drawn == allowed
    assert "n\u00a0<\u00a030" in _texts(fig, "n")
    assert fig.get_suptitle() == "Estimations sur petits domaines et leur précision"
    assert "Source : enquête de perception" in source_note_of(fig)
    assert fig.axes[0].get_xlabel() == "Estimation"


def test_labels_from_a_questionnaire_like_source(result):
    labels = {"cercle": {11: "Mopti", 10: "Bandiagara"}, "region": {1: "Mopti", 2: "Ségou"}}
    fig = plot_small_areas(result.published(), labels=labels, lang="fr", scale=1.0)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks[0] == "Mopti" and "Ségou" in ticks
    assert any(t.startswith("Bandiagara · A") for t in ticks)


def test_draws_into_given_axes_and_keeps_rcparams(result):
    before = dict(mpl.rcParams)
    fig = Figure()
    ax = fig.add_subplot()
    out = plot_small_areas(result.published(), ax=ax, lang="en", group="cercle")
    assert out is fig and len(_containers(fig, "model")) == len(result.estimates)
    assert dict(mpl.rcParams) == before


def test_bad_tables_are_refused(result):
    with pytest.raises(PerceptionError, match="result table"):
        plot_small_areas(result)
    with pytest.raises(PerceptionError, match="'ci_low'"):
        plot_small_areas(result.published().drop(columns="ci_low"))
    with pytest.raises(PerceptionError, match="group='wave'"):
        plot_small_areas(result.published(), group="wave")
    with pytest.raises(PerceptionError, match="'fr' or 'en'"):
        plot_small_areas(result.published(), lang="de")
