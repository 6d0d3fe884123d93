"""The figure of a sensitive question: the direct answer and the list experiment side by
side, in the figure set when the questionnaire declares a list experiment."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import perception as pc
from perception.errors import PerceptionError
from perception.outputs import report
from perception.outputs.figures import plot_list_experiment, title_of


@pytest.fixture(scope="module")
def table(demo_factory):
    demo = demo_factory(seed=1)
    d = demo.design()
    direct = pc.top_box(d, "abuse_hh", top=[1], by="wave", questionnaire=demo.questionnaire)
    listed = pc.list_experiment(d, count="le_count", treatment="le_list", by="wave")
    return pd.concat([direct.assign(method="direct"), listed.assign(method="list")],
                     ignore_index=True)


def test_the_figure_draws_both_estimates_of_every_wave(table, demo):
    fig = plot_list_experiment(table, group="wave", labels=demo.questionnaire, lang="en")
    ax = fig.axes[0]
    assert title_of(fig) == "Sensitive question: direct answer and list experiment"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Direct question", "List experiment"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Baseline", "Endline"]
    shown_n = [t.get_text() for t in ax.texts if t.get_gid() == "n"]
    smallest = table[["n_control", "n_treatment"]].min(axis=1).dropna().astype(int)
    assert f"{smallest.iloc[0]:,}" in shown_n
    fr = plot_list_experiment(table, group="wave", labels=demo.questionnaire)
    assert title_of(fr) == "Question sensible : réponse directe et expérience de liste"


def test_small_lists_are_suppressed(table):
    fig = plot_list_experiment(table, group="wave", min_cell=2000)
    marks = [t for t in fig.axes[0].texts if t.get_gid() == "suppressed"]
    assert len(marks) == 2  # the list experiment rests on two lists below 2,000


def test_a_table_without_method_or_with_another_is_refused(table):
    with pytest.raises(PerceptionError, match="method"):
        plot_list_experiment(table.drop(columns="method"))
    with pytest.raises(PerceptionError, match="'direct' or 'list'"):
        plot_list_experiment(table.assign(method="survey"))


def test_the_figure_set_draws_it_only_with_a_list_experiment(demo):
    ctx = report.context_from_waves(demo.waves, demo.questionnaire)
    assert "sensitive_list" in report.figures_to_draw(ctx)
    built = report.build_figure("sensitive_list", ctx)
    published = built.tables[""]
    assert published["method"].tolist() == ["direct", "direct", "list", "list"]
    assert list(published.columns[:3]) == ["wave", "method", "variable"]
    assert "n_min" in published.columns and not published["suppressed"].any()
    without = dataclasses.replace(demo.questionnaire, list_experiments=())
    ctx = report.context_from_waves(demo.waves, without)
    assert "sensitive_list" not in report.figures_to_draw(ctx)
    with pytest.raises(PerceptionError, match="needs a list experiment declared"):
        report.build_figure("sensitive_list", ctx)
