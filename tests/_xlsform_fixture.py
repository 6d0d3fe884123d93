"""A realistic XLSForm of the Central Mali trust survey, written with openpyxl for tests.

The form is what a field team would build in KoboToolbox: French and English labels,
groups with skip logic, metadata questions, a repeat, a geopoint, calculations, choice
lists whose refused/don't-know choices are marked with the ``missing`` column, and a few
things the import must drop and note (a ``regex()`` constraint, a dynamic ``required``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pandas as pd

FR, EN = "label::French (fr)", "label::English (en)"

SURVEY_COLUMNS = [
    "type", "name", FR, EN, "hint::French (fr)", "required", "relevant", "constraint",
    "constraint_message::French (fr)", "calculation", "pii", "sensitive", "role",
    "appearance",
]

SURVEY: list[dict] = [
    {"type": "start", "name": "start"},
    {"type": "end", "name": "end"},
    {"type": "today", "name": "today"},
    {"type": "deviceid", "name": "deviceid"},
    {"type": "note", "name": "intro", FR: "Bonjour, je m'appelle ...", EN: "Hello, my name is ..."},
    {"type": "begin group", "name": "grp_id", FR: "Identification", EN: "Identification"},
    {"type": "text", "name": "resp_id", FR: "Identifiant", EN: "Respondent ID", "required": "yes",
     "role": "id"},
    {"type": "select_one wave", "name": "wave", FR: "Vague", EN: "Wave", "required": "yes",
     "role": "wave"},
    {"type": "select_one cercle", "name": "cercle", FR: "Cercle", EN: "Cercle", "required": "yes"},
    {"type": "text", "name": "commune", FR: "Commune", EN: "Commune", "sensitive": "yes"},
    {"type": "select_one yes_no", "name": "consent", FR: "Consentement obtenu",
     EN: "Consent obtained", "required": "yes", "constraint": ". = 1",
     "constraint_message::French (fr)": "Sans consentement, arrêtez l'entretien"},
    {"type": "text", "name": "resp_name", FR: "Nom de l'enquêté(e)", EN: "Respondent's name",
     "pii": "yes"},
    {"type": "text", "name": "phone", FR: "Téléphone", EN: "Telephone", "pii": "yes",
     "constraint": "regex(., '^[0-9 +]+$')"},
    {"type": "geopoint", "name": "gps", FR: "Position GPS", EN: "GPS position"},
    {"type": "end group", "name": "grp_id"},
    {"type": "begin group", "name": "grp_demo", FR: "Profil", EN: "Profile"},
    {"type": "select_one sex", "name": "sex", FR: "Sexe", EN: "Sex", "required": "yes"},
    {"type": "integer", "name": "age", FR: "Quel âge avez-vous ?", EN: "How old are you?",
     "required": "yes", "constraint": ". >= 18 and . <= 110",
     "constraint_message::French (fr)": "Entre 18 et 110 ans"},
    {"type": "select_one displaced", "name": "displaced", FR: "Déplacé(e) depuis 2015 ?",
     EN: "Displaced since 2015?", "required": "yes", "sensitive": "yes"},
    {"type": "end group"},
    {"type": "begin group", "name": "grp_trust", FR: "Confiance", EN: "Trust",
     "appearance": "field-list"},
    {"type": "select_one trust4", "name": "trust_police", FR: "La Police nationale",
     EN: "The National Police", "required": "yes"},
    {"type": "select_one trust4", "name": "trust_gend", FR: "La Gendarmerie nationale",
     EN: "The National Gendarmerie", "required": "yes"},
    {"type": "end group"},
    {"type": "begin group", "name": "grp_vict", FR: "Victimisation", EN: "Victimisation"},
    {"type": "select_one yes_no_dk", "name": "vict_theft", FR: "Victime d'un vol ?",
     EN: "Victim of theft?", "required": "yes"},
    {"type": "select_one reported", "name": "vict_reported", FR: "Incident signalé ?",
     EN: "Incident reported?", "required": "yes", "relevant": "${vict_theft} = 1"},
    {"type": "end group"},
    {"type": "begin group", "name": "grp_ca", FR: "Actions communautaires",
     EN: "Community actions"},
    {"type": "select_one yes_no_dk", "name": "ca_aware", FR: "Entendu parler d'actions ?",
     EN: "Heard of actions?", "required": "yes"},
    {"type": "select_multiple ca_type", "name": "ca_type", FR: "Lesquelles ?",
     EN: "Which ones?", "required": "yes", "relevant": "${ca_aware} = 1"},
    {"type": "text", "name": "ca_type_other", FR: "Autre, préciser", EN: "Other, specify",
     "required": "yes", "relevant": "selected(${ca_type}, '96')"},
    {"type": "begin group", "name": "grp_ca_detail", FR: "Détails", EN: "Details",
     "relevant": "${ca_aware} = 1"},
    {"type": "select_one benefit", "name": "ca_benefit", FR: "Bénéficié ?", EN: "Benefited?",
     "required": "yes"},
    {"type": "select_one satisf", "name": "ca_satisf", FR: "Satisfait(e) ?", EN: "Satisfied?",
     "required": "${ca_benefit} > 0", "relevant": "${ca_benefit} > 0"},
    {"type": "end group"},
    {"type": "end group"},
    {"type": "calculate", "name": "trust_sum", "calculation": "${trust_police} + ${trust_gend}"},
    {"type": "calculate", "name": "resp_tag", "calculation": "concat(${resp_id}, '-', ${wave})"},
    {"type": "begin repeat", "name": "hh_members", FR: "Membres du ménage", EN: "Household members"},
    {"type": "text", "name": "member_name", FR: "Prénom", EN: "First name"},
    {"type": "integer", "name": "member_age", FR: "Âge", EN: "Age"},
    {"type": "end repeat"},
    {"type": "note", "name": "thanks", FR: "Merci !", EN: "Thank you!"},
]

CHOICES_COLUMNS = ["list_name", "name", FR, EN, "missing"]


def _choice_list(list_name: str, rows: Sequence[tuple], missing: Sequence = ()) -> list[dict]:
    out = [{"list_name": list_name, "name": code, FR: fr, EN: en} for code, fr, en in rows]
    out += [
        {"list_name": list_name, "name": code, FR: fr, EN: en, "missing": "yes"}
        for code, fr, en in missing
    ]
    return out


REFUSED_DK = [(8, "Refus", "Refused"), (9, "Ne sait pas", "Don't know")]
CHOICES: list[dict] = [
    *_choice_list("yes_no", [(0, "Non", "No"), (1, "Oui", "Yes")]),
    *_choice_list("yes_no_dk", [(0, "Non", "No"), (1, "Oui", "Yes")], REFUSED_DK),
    *_choice_list("wave", [(0, "Référence", "Baseline"), (1, "Fin", "Endline")]),
    *_choice_list("cercle", [(11, "Mopti", "Mopti"), (12, "Bandiagara", "Bandiagara"),
                             (21, "Ségou", "Ségou"), (26, "San", "San")]),
    *_choice_list("sex", [(1, "Homme", "Male"), (2, "Femme", "Female")]),
    *_choice_list("displaced", [(0, "Non", "No"), (1, "Oui, déplacé actuellement",
                                                   "Yes, currently displaced"),
                                (2, "Oui, retourné", "Yes, returned")], REFUSED_DK),
    *_choice_list("trust4", [(0, "Pas du tout", "Not at all"), (1, "Un peu", "Just a little"),
                             (2, "Partiellement", "Somewhat"), (3, "Beaucoup", "A lot")],
                  REFUSED_DK),
    *_choice_list("reported", [(1, "Oui, par l'enquêté(e)", "Yes, by the respondent"),
                               (2, "Oui, par quelqu'un d'autre", "Yes, by someone else"),
                               (3, "Non", "No")],
                  [(7, "Non applicable", "Not applicable"), *REFUSED_DK]),
    *_choice_list("ca_type", [(1, "Eau", "Water"), (2, "École", "School"), (3, "Santé", "Health"),
                              (96, "Autre", "Other")], [(99, "Ne sait pas", "Don't know")]),
    *_choice_list("benefit", [(0, "Non", "No"), (1, "Un peu", "A little"),
                              (2, "Beaucoup", "A lot")], [(9, "Ne sait pas", "Don't know")]),
    *_choice_list("satisf", [(1, "Très insatisfait(e)", "Very dissatisfied"),
                             (2, "Plutôt insatisfait(e)", "Rather dissatisfied"),
                             (3, "Plutôt satisfait(e)", "Rather satisfied"),
                             (4, "Très satisfait(e)", "Very satisfied")]),
    # a list no question uses: not written to the questionnaire
    *_choice_list("unused", [(1, "Un", "One")]),
]

SETTINGS_COLUMNS = ["form_title", "form_id", "version", "default_language"]
SETTINGS = [{
    "form_title": "Confiance entre populations et FSI (Kobo)",
    "form_id": "centre_mali_trust_kobo",
    "version": "2024031501",
    "default_language": "French (fr)",
}]


def write_xlsform(
    path: Path,
    survey: Sequence[dict] = SURVEY,
    choices: Sequence[dict] = CHOICES,
    settings: Sequence[dict] | None = SETTINGS,
    survey_columns: Sequence[str] = SURVEY_COLUMNS,
    choices_columns: Sequence[str] = CHOICES_COLUMNS,
) -> Path:
    """Write an XLSForm workbook (sheets survey, choices[, settings]) and return its path."""
    workbook = openpyxl.Workbook()
    sheets = [("survey", survey, survey_columns), ("choices", choices, choices_columns)]
    if settings is not None:
        sheets.append(("settings", settings, SETTINGS_COLUMNS))
    first = True
    for name, rows, columns in sheets:
        sheet = workbook.active if first else workbook.create_sheet(name)
        sheet.title = name
        first = False
        sheet.append(list(columns))
        for row in rows:
            sheet.append([row.get(column) for column in columns])
    workbook.save(path)
    return path


def write_xls(path: Path, sheets: dict[str, tuple[Sequence[str], Sequence[dict]]]) -> Path:
    """Write an old Excel .xls (BIFF) workbook with xlwt: sheet -> (columns, rows)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for name, (columns, rows) in sheets.items():
        sheet = book.add_sheet(name)
        for j, column in enumerate(columns):
            sheet.write(0, j, column)
        for i, row in enumerate(rows, start=1):
            for j, column in enumerate(columns):
                value = row.get(column)
                if value is not None:
                    sheet.write(i, j, value)
    book.save(str(path))
    return path


def write_form_xls(path: Path) -> Path:
    """The form of :data:`SURVEY` as an .xls workbook."""
    return write_xls(path, {"survey": (SURVEY_COLUMNS, SURVEY),
                            "choices": (CHOICES_COLUMNS, CHOICES),
                            "settings": (SETTINGS_COLUMNS, SETTINGS)})


def wave_for_form() -> pd.DataFrame:
    """A small wave that satisfies the converted questionnaire (skip logic included)."""
    return pd.DataFrame(
        {
            "resp_id": ["K001", "K002", "K003", "K004"],
            "wave": [0, 0, 1, 1],
            "cercle": [11, 12, 21, 26],
            "commune": ["Mopti", "Bandiagara", None, "San"],
            "consent": [1, 1, 1, 1],
            "resp_name": ["Awa Traoré", "Moussa Diallo", None, "Fatoumata Coulibaly"],
            "phone": ["+223 70 11 22 33", None, "+223 66 00 11 22", None],
            "gps": ["14.49 -4.19 270 5", None, None, "13.30 -4.90 280 4"],
            "sex": [2, 1, 1, 2],
            "age": [34, 52, 19, 61],
            "displaced": [0, 1, 9, 2],
            "trust_police": [3, 0, 9, 2],
            "trust_gend": [2, 1, 1, 8],
            "vict_theft": [1, 0, 8, 1],
            "vict_reported": [3, None, None, 1],
            "ca_aware": [1, 0, 1, 9],
            "ca_type": ["1 96", None, "99", None],
            "ca_type_other": ["Puits", None, None, None],
            "ca_benefit": [2, None, 0, None],
            "ca_satisf": [4, None, None, None],
            "trust_sum": [5.0, 1.0, 10.0, 10.0],
            "resp_tag": ["K001-0", "K002-0", "K003-1", "K004-1"],
        }
    )
