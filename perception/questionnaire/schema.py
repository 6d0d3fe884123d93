"""A questionnaire compiled into checks: the pandera schema of its waves.

:func:`build_schema` compiles a :class:`~perception.questionnaire.Questionnaire` into a
:class:`pandera.DataFrameSchema` (object API: ``Column``, ``Check``; validated with
``lazy=True`` so that every failure is collected). The schema checks:

- dtypes (numbers for coded/numeric items, dates for dates), by coercion;
- code lists (valid codes and declared missing codes), ranges, whole numbers;
- required answers (non-empty where the question is relevant) and skip logic (no
  answer where ``relevant`` is false), value constraints;
- uniqueness of the respondent id within each wave;
- design: weights finite and > 0, each PSU inside one stratum per wave;
- the questionnaire's ``consistency`` section (e.g. cercle inside its region);
- list experiments: counts from 0 to J on the control list and to J + 1 on the
  treatment list, the list heard given wherever a count is.

Each check is a :class:`Rule` that also says how to explain a failure;
:func:`compile_rules` returns the schema with its rules, from which
:func:`perception.validate` (:mod:`perception.waves.validation`) writes its report.

Examples
--------
>>> from perception.questionnaire import Questionnaire
>>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
...     {"name": "ok", "type": "binary", "label": "OK?", "required": True}]})
>>> compiled = compile_rules(q)
>>> sorted(compiled.rules)
['codes:ok', 'required:ok']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..errors import format_rows
from .cells import code_text, numbers, present, texts

if TYPE_CHECKING:  # the model builds its schema through this module (Questionnaire.schema)
    from .model import ConsistencyRule, Questionnaire, Variable

__all__ = ["build_schema", "compile_rules", "CompiledRules", "Rule"]

# ------------------------------------------------------------------ value helpers


def _missing_code_mask(var: Variable, series: pd.Series) -> pd.Series:
    """True where the cell holds one of the variable's declared missing-value codes."""
    if not var.missing:
        return pd.Series(False, index=series.index)
    if var.is_numeric:
        return numbers(series).isin([float(c) for c in var.missing]).astype(bool)
    codes = {str(c) for c in var.missing}
    return texts(series).isin(codes).astype(bool)


def _answered(var: Variable, series: pd.Series) -> pd.Series:
    """True where the cell holds a substantive answer (present, not a missing code)."""
    return present(series) & ~_missing_code_mask(var, series)


def describe_codes(codes: Mapping[Any, Mapping[str, str]], lang: str, limit: int = 12) -> str:
    items = [f"{c} = {labels.get(lang, '')}".rstrip(" =") for c, labels in codes.items()]
    if len(items) > limit:
        items = [*items[:limit], f"... ({len(items) - limit} more)"]
    return ", ".join(items)


def _bounds(var: Variable) -> str:
    def fmt(x: Any) -> str:
        if isinstance(x, pd.Timestamp):
            return x.date().isoformat()
        return f"{x:g}" if isinstance(x, float) else str(x)

    if var.min is not None and var.max is not None:
        return f"between {fmt(var.min)} and {fmt(var.max)}"
    if var.min is not None:
        return f"at least {fmt(var.min)}"
    return f"at most {fmt(var.max)}"


# ------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """One check: how to test it (pandera) and how to explain a failure (report)."""

    key: str  # unique pandera check name
    check: str  # short name shown in reports
    column: str  # the column a failure is reported on
    problem: str  # what is wrong, without the value
    fix: str  # how to fix it
    fn: Callable[[Any], pd.Series] = field(repr=False)
    frame_level: bool = False  # fn takes the DataFrame (else the column)
    needs: frozenset[str] = frozenset()  # columns the check reads
    # (data with positional index, failing positions, original index) -> position -> text
    detail: Callable[[pd.DataFrame, list[int], pd.Index], dict[int, str]] | None = field(
        default=None, repr=False
    )
    explain: Callable[[Any], str] | None = field(default=None, repr=False)  # value -> problem


@dataclass(frozen=True)
class CompiledRules:
    schema: pa.DataFrameSchema
    rules: Mapping[str, Rule]
    dtypes: Mapping[str, str]


def _column_rules(var: Variable, q: Questionnaire) -> list[Rule]:
    lang = q.default_language
    name = var.name
    rules: list[Rule] = []
    missing_text = f"; missing codes: {describe_codes(var.missing, lang)}" if var.missing else ""
    missing_fix = (
        f", or use a missing code ({', '.join(map(str, var.missing))})" if var.missing else ""
    )

    def add(
        check: str,
        problem: str,
        fix: str,
        fn: Callable[[pd.Series], pd.Series],
        explain: Callable[[Any], str] | None = None,
    ) -> None:
        rules.append(Rule(f"{check}:{name}", check, name, problem, fix, fn, explain=explain))

    if var.role == "weight":

        def weight_ok(s: pd.Series) -> pd.Series:
            x = numbers(s)
            return (np.isfinite(x) & (x > 0)) | (s.notna() & x.isna())

        def weight_problem(value: Any) -> str:
            x = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
            found = (
                "it is empty"
                if pd.isna(x)
                else "it is infinite"
                if not np.isfinite(x)
                else "it is zero"
                if x == 0
                else "it is negative"
            )
            return f"a sampling weight must be a finite number greater than 0, but {found}"

        add(
            "weight",
            "a sampling weight must be a finite number greater than 0",
            "recompute the weight for this row; never leave it empty or set it to 0 -- "
            "drop out-of-sample rows explicitly instead",
            weight_ok,
            weight_problem,
        )
    elif var.required and var.relevant_expr is None:
        add(
            "required",
            "the answer is empty but the question is required",
            f"enter the answer{missing_fix}",
            lambda s: present(s),
        )

    if var.type in ("categorical", "ordinal", "binary"):
        allowed = [*var.codes, *var.missing]
        if var.is_numeric:
            allowed_f = [float(c) for c in allowed]

            def codes_ok(s: pd.Series) -> pd.Series:
                x = numbers(s).to_numpy()  # text that is not a number: a dtype error
                return pd.Series(np.isnan(x) | np.isin(x, allowed_f), index=s.index)

        else:
            allowed_t = {str(c) for c in allowed}

            def codes_ok(s: pd.Series) -> pd.Series:
                return s.isna() | texts(s).isin(allowed_t)

        add(
            "codes",
            f"not a code of {name} (valid: {describe_codes(var.codes, lang)}{missing_text})",
            "correct the value, or declare the code in the questionnaire",
            codes_ok,
        )
    elif var.type == "select_multiple":
        allowed_t = {str(c) for c in var.codes}
        missing_t = {str(c) for c in var.missing}

        def multi_ok(s: pd.Series) -> pd.Series:
            text = texts(s)

            def cell_ok(cell: Any) -> bool:
                if not isinstance(cell, str):
                    return True
                if cell in missing_t:
                    return True
                tokens = cell.split()
                return (
                    bool(tokens)
                    and all(t in allowed_t for t in tokens)
                    and len(set(tokens)) == len(tokens)
                )

            return text.map(cell_ok, na_action="ignore").fillna(True).astype(bool)

        add(
            "codes",
            f"not a space-separated list of distinct codes of {name} "
            f"(valid: {describe_codes(var.codes, lang)}{missing_text})",
            "write the selected codes separated by spaces, e.g. '1 3', each once",
            multi_ok,
        )

    if var.type == "integer":

        def integer_ok(s: pd.Series) -> pd.Series:
            x = numbers(s).to_numpy()
            with np.errstate(invalid="ignore"):
                return pd.Series(np.isnan(x) | (np.floor(x) == x), index=s.index)

        add("integer", f"{name} must be a whole number", "round or correct the value", integer_ok)

    if var.type in ("integer", "numeric") and (var.min is not None or var.max is not None):
        lo = -np.inf if var.min is None else float(var.min)
        hi = np.inf if var.max is None else float(var.max)
        missing_f = [float(c) for c in var.missing]

        def range_ok(s: pd.Series) -> pd.Series:
            x = numbers(s).to_numpy()
            with np.errstate(invalid="ignore"):
                ok = np.isnan(x) | ((x >= lo) & (x <= hi)) | np.isin(x, missing_f)
            return pd.Series(ok, index=s.index)

        add(
            "range",
            f"outside the valid range: {name} must be {_bounds(var)}{missing_text}",
            f"correct the value{missing_fix}",
            range_ok,
        )
    if var.type == "date" and (var.min is not None or var.max is not None):
        lo_d = pd.Timestamp.min if var.min is None else var.min
        hi_d = pd.Timestamp.max if var.max is None else var.max

        def date_range_ok(s: pd.Series) -> pd.Series:
            d = pd.to_datetime(s, errors="coerce")
            return d.isna() | ((d >= lo_d) & (d <= hi_d))

        add(
            "range",
            f"date outside the valid range: {name} must be {_bounds(var)}",
            "correct the date (day, month and year)",
            date_range_ok,
        )
    return rules


def _frame_rules(var: Variable, q: Questionnaire) -> list[Rule]:
    name = var.name
    rules: list[Rule] = []
    missing_fix = (
        f", or use a missing code ({', '.join(map(str, var.missing))})" if var.missing else ""
    )
    if var.relevant_expr is not None:
        expr = var.relevant_expr
        needs = frozenset({name, *expr.variables})

        def required_ok(df: pd.DataFrame, expr=expr, name=name) -> pd.Series:
            applies = expr.evaluate(df)
            return ~applies | present(df[name])

        def skip_ok(df: pd.DataFrame, expr=expr, name=name, var=var) -> pd.Series:
            applies = expr.evaluate(df)
            return applies | ~_answered(var, df[name])

        if var.required:
            rules.append(
                Rule(
                    f"required:{name}",
                    "required",
                    name,
                    f"the answer is empty although the question applies (relevant: {expr.text})",
                    f"enter the answer{missing_fix}, or correct the earlier answers "
                    "that make the question apply",
                    required_ok,
                    frame_level=True,
                    needs=needs,
                )
            )
        rules.append(
            Rule(
                f"relevant:{name}",
                "relevant",
                name,
                f"an answer is recorded although the question does not apply "
                f"(skip logic: asked only if {expr.text})",
                "leave the cell empty (or a missing code) when the condition is false, or "
                "correct the earlier answers",
                skip_ok,
                frame_level=True,
                needs=needs,
            )
        )
    if var.choice_filter_expr is not None:
        rules.append(_choice_filter_rule(var))
    if var.constraint_expr is not None:
        expr = var.constraint_expr

        def constraint_ok(df: pd.DataFrame, expr=expr, name=name, var=var) -> pd.Series:
            return ~_answered(var, df[name]) | expr.evaluate(df, current=name)

        rules.append(
            Rule(
                f"constraint:{name}",
                "constraint",
                name,
                var.constraint_message or f"the value breaks the constraint {expr.text}",
                "correct the value"
                if var.constraint_message
                else f"correct the value so that {expr.text} holds ('.' is the value of {name})",
                constraint_ok,
                frame_level=True,
                needs=frozenset({name, *expr.variables}),
            )
        )
    return rules


def _choice_filter_rule(var: Variable) -> Rule:
    """Each answer (each selected code) is one the choice_filter allows in its row."""
    expr = var.choice_filter_expr
    assert expr is not None
    name = var.name
    by_text = {code_text(c): c for c in var.codes}
    missing = {code_text(c) for c in var.missing}
    multiple = var.type == "select_multiple"

    def allowed(df: pd.DataFrame) -> pd.Series:
        answers = texts(df[name])
        ok = pd.Series(True, index=df.index)
        tokens = answers.map(lambda t: t.split() if multiple else [t], na_action="ignore")
        codes = {c for row in tokens.dropna() for c in row if c in by_text}
        for text in sorted(codes):
            code = by_text[text]
            rows = tokens.map(lambda row, text=text: isinstance(row, list) and text in row,
                              na_action="ignore").fillna(False).astype(bool)
            choice = {column: values.get(code) for column, values in var.choice_columns.items()}
            choice["name"] = text
            kept = expr.evaluate(df.loc[rows], choice=choice)
            ok.loc[kept.index[~kept.to_numpy()]] = False
        unknown = tokens.map(lambda row: isinstance(row, list) and all(
            t in missing for t in row), na_action="ignore")
        return ok | unknown.fillna(False).astype(bool)

    return Rule(
        f"choice_filter:{name}",
        "choice_filter",
        name,
        f"the answer is not among the choices allowed in this row (choice_filter: {expr.text})",
        "correct the answer, or the earlier answer the list depends on",
        allowed,
        frame_level=True,
        needs=frozenset({name, *expr.variables}),
    )


def _group_keys(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: texts(df[c]) for c in columns}, index=df.index)


def _design_rules(q: Questionnaire) -> list[Rule]:
    roles = q.roles
    wave = roles.get("wave")
    rules: list[Rule] = []
    wave_cols = [wave] if wave else []
    where = " within a wave" if wave else ""

    for var in q.variable_list:
        if not var.unique:
            continue
        name = var.name

        def unique_ok(df: pd.DataFrame, name=name) -> pd.Series:
            cols = [c for c in wave_cols if c in df.columns] + [name]
            keys = _group_keys(df, cols)
            present = keys[name].notna()
            dup = keys[present].duplicated(keep=False)
            return ~dup.reindex(df.index, fill_value=False).astype(bool)

        def unique_detail(
            df: pd.DataFrame, rows: list[int], labels: pd.Index, name=name
        ) -> dict[int, str]:
            cols = [c for c in wave_cols if c in df.columns] + [name]
            keys = _group_keys(df, cols)
            groups = keys.groupby(cols, dropna=True, sort=False).ngroup().to_numpy()
            out: dict[int, str] = {}
            cache: dict[int, str] = {}
            for pos in rows:
                g = int(groups[pos])
                if g < 0:
                    continue
                if g not in cache:
                    members = np.flatnonzero(groups == g)
                    text = f"appears in rows {format_rows(list(labels[members]), 6)}"
                    if len(cols) > 1:
                        text += f" of {cols[0]} {keys[cols[0]].iloc[pos]}"
                    cache[g] = text
                out[pos] = cache[g]
            return out

        rules.append(
            Rule(
                f"unique:{name}",
                "unique",
                name,
                f"duplicate {name}: each value must be unique{where}",
                f"give every respondent its own {name}, or remove the duplicated interview",
                unique_ok,
                frame_level=True,
                needs=frozenset({name}),
                detail=unique_detail,
            )
        )

    psu, stratum = roles.get("psu"), roles.get("stratum")
    if psu and stratum:

        def psu_keys(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
            cols = [c for c in wave_cols if c in df.columns] + [psu]
            keys = _group_keys(df, [*cols, stratum])
            return keys.dropna(), cols

        def psu_ok(df: pd.DataFrame) -> pd.Series:
            keys, cols = psu_keys(df)
            n_strata = keys.groupby(cols)[stratum].transform("nunique")
            return ~(n_strata > 1).reindex(df.index, fill_value=False).astype(bool)

        def psu_detail(df: pd.DataFrame, rows: list[int], labels: pd.Index) -> dict[int, str]:
            keys, cols = psu_keys(df)
            strata = keys.groupby(cols)[stratum].agg(lambda s: ", ".join(sorted(set(s))))
            out: dict[int, str] = {}
            for pos in rows:
                if pos not in keys.index:
                    continue
                key = tuple(keys.at[pos, c] for c in cols)
                found = strata.get(key if len(cols) > 1 else key[0], "")
                text = f"this PSU is in strata {found}"
                if len(cols) > 1:
                    text += f" in {cols[0]} {key[0]!s}"
                out[pos] = text
            return out

        rules.append(
            Rule(
                f"psu_in_stratum:{psu}",
                "psu_in_stratum",
                psu,
                f"the PSU ({psu}) lies in more than one stratum ({stratum}){where}; a PSU must "
                "be nested in a single stratum",
                f"correct {psu} or {stratum} for these rows (PSU ids must identify one "
                "village/area of one stratum)",
                psu_ok,
                frame_level=True,
                needs=frozenset({psu, stratum}),
                detail=psu_detail,
            )
        )
    return rules


def _consistency_rules(q: Questionnaire) -> list[Rule]:
    rules: list[Rule] = []
    lang = q.default_language
    for rule in q.consistency:
        rules.append(_consistency_rule(rule, q, lang))
    return rules


def _consistency_rule(rule: ConsistencyRule, q: Questionnaire, lang: str) -> Rule:
    if rule.kind == "mapping":
        src, dst = q.variable(rule.source or ""), q.variable(rule.target or "")
        mapping = {
            float(k) if src.is_numeric else str(k): v for k, v in (rule.mapping or {}).items()
        }

        def expected(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
            key = numbers(df[src.name]) if src.is_numeric else texts(df[src.name])
            want = key.map(mapping)
            have = numbers(df[dst.name]) if dst.is_numeric else texts(df[dst.name])
            if dst.is_numeric:
                want = pd.to_numeric(want, errors="coerce")
            else:
                want = want.map(str, na_action="ignore")
            return want, have

        def mapping_ok(df: pd.DataFrame) -> pd.Series:
            want, have = expected(df)
            checked = want.notna() & _answered(dst, df[dst.name])
            return ~checked | (want == have)

        def mapping_detail(df: pd.DataFrame, rows: list[int], labels: pd.Index) -> dict[int, str]:
            want, have = expected(df)
            src_labels, dst_labels = src.code_labels(lang), dst.code_labels(lang)
            out: dict[int, str] = {}
            for pos in rows:
                w, h = want.iloc[pos], have.iloc[pos]
                s_val = df[src.name].iloc[pos]
                out[pos] = (
                    f"{src.name} {code_text(s_val)} ({_label_of(src_labels, s_val)}) belongs "
                    f"to {dst.name} {code_text(w)} ({_label_of(dst_labels, w)}), but "
                    f"{dst.name} is {code_text(h)} ({_label_of(dst_labels, h)})"
                )
            return out

        return Rule(
            f"consistency:{rule.name}",
            "consistency",
            rule.column,
            rule.message or f"{src.name} and {dst.name} do not match ({rule.name})",
            f"correct {src.name} or {dst.name}",
            mapping_ok,
            frame_level=True,
            needs=frozenset({src.name, dst.name}),
            detail=mapping_detail,
        )

    expr = rule.condition_expr
    assert expr is not None
    refs = [q.variable(n) for n in sorted(expr.variables)]

    def rule_ok(df: pd.DataFrame) -> pd.Series:
        checked = pd.Series(True, index=df.index)
        for var in refs:
            checked &= _answered(var, df[var.name])
        return ~checked | expr.evaluate(df)

    return Rule(
        f"consistency:{rule.name}",
        "consistency",
        rule.column,
        rule.message or f"the rule {rule.name} ({expr.text}) is false",
        f"correct {', '.join(v.name for v in refs)} so that {expr.text} holds",
        rule_ok,
        frame_level=True,
        needs=frozenset(expr.variables),
    )


def _list_experiment_rules(q: Questionnaire) -> list[Rule]:
    """Per list experiment: counts within 0..J (control list) or 0..J+1 (treatment list),
    and the list heard (0 or 1) given wherever the count is answered."""
    rules: list[Rule] = []
    for experiment in q.list_experiments:
        count_var = q.variable(experiment.count)
        count, assignment, J = experiment.count, experiment.assignment, experiment.n_control_items

        def limits(df: pd.DataFrame, assignment=assignment, J=J) -> np.ndarray:
            arm = numbers(df[assignment]).to_numpy(dtype=float, na_value=np.nan)
            return np.where(arm == 1, J + 1, np.where(arm == 0, J, np.inf))

        def count_ok(df: pd.DataFrame, count=count, count_var=count_var, limits=limits
                     ) -> pd.Series:
            y = numbers(df[count])
            answered = _answered(count_var, df[count]) & y.notna()
            return ~answered | ((y >= 0) & (y.to_numpy(dtype=float, na_value=np.nan)
                                           <= limits(df)))

        def count_detail(df: pd.DataFrame, rows: list[int], labels: pd.Index,
                         assignment=assignment, J=J) -> dict[int, str]:
            arm = numbers(df[assignment])
            out: dict[int, str] = {}
            for pos in rows:
                if arm.iloc[pos] == 1:
                    out[pos] = f"treatment list ({assignment} = 1): 0 to {J + 1}"
                elif arm.iloc[pos] == 0:
                    out[pos] = f"control list ({assignment} = 0): 0 to {J}"
            return out

        def assignment_ok(df: pd.DataFrame, count=count, count_var=count_var,
                          assignment=assignment) -> pd.Series:
            answered = _answered(count_var, df[count])
            return ~answered | numbers(df[assignment]).isin([0.0, 1.0])

        rules.append(Rule(
            f"list_count:{experiment.name}", "list_count", count,
            f"count outside its list in list experiment {experiment.name!r} (J = {J} control "
            "items)",
            f"correct the count, or the list heard ({assignment}): counts run from 0 to {J} "
            f"on the control list and from 0 to {J + 1} on the treatment list",
            count_ok, frame_level=True, needs=frozenset({count, assignment}),
            detail=count_detail,
        ))
        rules.append(Rule(
            f"list_assignment:{experiment.name}", "list_assignment", assignment,
            f"the count of list experiment {experiment.name!r} ({count}) is answered, but "
            "the list heard is missing or not 0/1",
            f"give {assignment} = 0 (control list, {J} statements) or 1 (treatment list, "
            f"{J + 1} statements) for every respondent asked the list",
            assignment_ok, frame_level=True, needs=frozenset({count, assignment}),
        ))
    return rules


def _label_of(labels: Mapping[Any, str], value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    for code, text in labels.items():
        if code_text(code) == code_text(value):
            return text
    return "unknown code"


def _dtype_of(var: Variable) -> str | None:
    if var.type == "date":
        return "datetime64[ns]"
    if var.is_numeric:
        return "float64"
    return None


def _guard(rule: Rule) -> Callable[[Any], pd.Series]:
    """Wrap a frame-level check so that it passes when a column it reads is absent."""
    fn = rule.fn

    def check(df: pd.DataFrame) -> pd.Series:
        if any(c not in df.columns for c in rule.needs):
            return pd.Series(True, index=df.index)
        return fn(df).reindex(df.index).fillna(False).astype(bool)

    return check


def _column_check(rule: Rule) -> Callable[[pd.Series], pd.Series]:
    fn = rule.fn

    def check(s: pd.Series) -> pd.Series:
        return fn(s).reindex(s.index).fillna(False).astype(bool)

    return check


def compile_rules(q: Questionnaire) -> CompiledRules:
    rules: dict[str, Rule] = {}
    columns: dict[str, pa.Column] = {}
    dtypes: dict[str, str] = {}
    frame_checks: list[pa.Check] = []
    for var in q.variable_list:
        col_rules = _column_rules(var, q)
        for rule in col_rules:
            rules[rule.key] = rule
        dtype = _dtype_of(var)
        if dtype:
            dtypes[var.name] = dtype
        columns[var.name] = pa.Column(
            dtype,
            checks=[pa.Check(_column_check(r), name=r.key, ignore_na=False) for r in col_rules],
            nullable=True,
            coerce=dtype is not None,
            required=var.required or var.role in q.roles,
            title=var.label(q.default_language) or None,
        )
    extra = [r for var in q.variable_list for r in _frame_rules(var, q)]
    extra += _design_rules(q) + _consistency_rules(q) + _list_experiment_rules(q)
    for rule in extra:
        rules[rule.key] = rule
        frame_checks.append(pa.Check(_guard(rule), name=rule.key, ignore_na=False))
    schema = pa.DataFrameSchema(
        columns,
        checks=frame_checks,
        strict=False,
        name=q.id,
        title=str(q.title.get(q.default_language, q.id)),
    )
    return CompiledRules(schema, rules, dtypes)


def build_schema(q: Questionnaire) -> pa.DataFrameSchema:
    """Compile a questionnaire into a :class:`pandera.DataFrameSchema`.

    Parameters
    ----------
    q : Questionnaire

    Returns
    -------
    pandera.DataFrameSchema
        Validate with ``schema.validate(df, lazy=True)``; ``validate(df, q)`` gives the
        same checks as a readable report. Check names are ``"<check>:<column>"`` (e.g.
        ``"range:age"``, ``"relevant:vict_reported"``, ``"consistency:cercle_in_region"``).

    Examples
    --------
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "ok", "type": "binary", "label": "OK?", "required": True}]})
    >>> sorted(build_schema(q).columns)
    ['ok']
    """
    return compile_rules(q).schema


# ------------------------------------------------------------------------- report


# ---------------------------------------------------------------------- validation


# --------------------------------------------------------------------- recoding


