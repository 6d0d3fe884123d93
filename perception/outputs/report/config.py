"""The configuration of a figure set: the figures, the items, the domains, the labels.

A YAML file overrides any key of :data:`DEFAULT_CONFIG` (labels are merged, per
language); an unknown key is refused with the list of valid ones.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT
from ...errors import PerceptionError

#: the configuration keys and their defaults (a YAML config overrides any of them)
DEFAULT_CONFIG: dict[str, Any] = {
    "lang": "fr",
    "min_cell": DEFAULT_MIN_CELL,
    "min_count": DEFAULT_MIN_COUNT,  # answers given by fewer respondents are suppressed
    "figures": None,  # None: every figure of FIGURES, in order
    "wave": None,  # default: the questionnaire's role "wave"
    "treated": None,  # default: the questionnaire's role "treated"
    "domain": "cercle",  # geography of the heat map, the index and the changes
    "subgroups": ["sex", "age_grp", "region"],
    "trust_items": ["trust_police", "trust_gend", "trust_gn", "trust_pc", "trust_army",
                    "trust_justice", "trust_mayor", "trust_trad", "trust_relig"],
    "fsi_items": ["trust_police", "trust_gend", "trust_gn", "trust_pc"],
    "relation_items": ["fsi_respect", "fsi_equal", "judic_handover"],
    "outcome": "trust_police",
    "top": [2, 3],
    "index_scale": [0, 3],
    "victimisation": {"vict_theft": [1], "vict_attack": [1], "vict_reported": [1, 2]},
    "awareness": {"ca_aware": [1], "ca_participated": [1, 2, 3], "ca_benefit": [1, 2]},
    "nonresponse_items": ["trust_police", "trust_gend", "trust_gn", "trust_pc", "trust_army",
                          "trust_justice", "trust_selfdef", "fsi_respect", "fsi_equal",
                          "corr_fsi", "impunity", "abuse_heard"],
    "weight_bins": 20,
    "list_experiment": None,  # name of a list experiment of the questionnaire (default: the first)
    "design": {"nest": False, "lonely_psu": "fail"},
    "source_note": None,  # {fr: ..., en: ...} or one text
    # response rate of each wave when known ({wave code: 0.92} or a text), for the methods
    "response_rates": None,
    "title": {"fr": "Confiance entre populations et forces de sécurité",
              "en": "Trust between populations and security forces"},
    "labels": {
        "fr": {
            "vict_theft": "Vol (ménage, 12 mois)",
            "vict_attack": "Agression physique (ménage, 12 mois)",
            "vict_reported": "Dernier incident signalé aux FSI (victimes)",
            "ca_aware": "A entendu parler d'actions avec les FSI",
            "ca_participated": "A participé (parmi ceux informés)",
            "ca_benefit": "Le ménage en a bénéficié (parmi ceux informés)",
            "fsi_respect": "Les FSI traitent les gens avec respect",
            "fsi_equal": "Les FSI traitent toutes les communautés de la même façon",
            "judic_handover": "Les suspects arrêtés sont remis à la justice",
            "corr_fsi": "Agents des FSI impliqués dans la corruption",
            "impunity": "Les abus des FSI restent impunis",
            "abuse_heard": "A entendu parler d'abus des FSI",
            "sex": "Sexe", "age_grp": "Âge", "region": "Région", "cercle": "Cercle",
            "treated": "Zone", "wave": "Vague", "index": "Indice de confiance envers les FSI",
        },
        "en": {
            "vict_theft": "Theft (household, 12 months)",
            "vict_attack": "Physical attack (household, 12 months)",
            "vict_reported": "Last incident reported to the FSI (victims)",
            "ca_aware": "Heard of actions supported by the FSI",
            "ca_participated": "Took part (among those aware)",
            "ca_benefit": "Household benefited (among those aware)",
            "fsi_respect": "FSI treat people with respect",
            "fsi_equal": "FSI treat all communities equally",
            "judic_handover": "Arrested suspects are handed to the courts",
            "corr_fsi": "FSI officers involved in corruption",
            "impunity": "FSI abuses go unpunished",
            "abuse_heard": "Heard of abuses by the FSI",
            "sex": "Sex", "age_grp": "Age", "region": "Region", "cercle": "Cercle",
            "treated": "Area", "wave": "Wave", "index": "Index of trust in the FSI",
        },
    },
}


# ------------------------------------------------------------------ configuration --
def load_config(path: str | Path | None) -> dict[str, Any]:
    """The configuration: :data:`DEFAULT_CONFIG` updated by a YAML file.

    Raises
    ------
    PerceptionError
        An unreadable file, or a key that is not a configuration key (with the list).
    """
    config = copy.deepcopy(DEFAULT_CONFIG)
    if path is None:
        return config
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PerceptionError(f"cannot read the configuration {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PerceptionError(f"the configuration {path} is not valid YAML: {exc}") from None
    return merge_config(config, raw or {}, source=str(path))


def merge_config(config: Mapping[str, Any], changes: Mapping[str, Any],
                 source: str = "the configuration") -> dict[str, Any]:
    """``config`` with ``changes`` applied (labels are merged, other keys replaced)."""
    if not isinstance(changes, Mapping):
        raise PerceptionError(f"{source} must be a mapping of keys to values, got "
                              f"{type(changes).__name__}")
    out = copy.deepcopy(dict(config))
    for key, value in changes.items():
        if key not in DEFAULT_CONFIG:
            close = difflib.get_close_matches(str(key), DEFAULT_CONFIG, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PerceptionError(
                f"{source}: unknown key {key!r}.{hint} Valid keys: {', '.join(DEFAULT_CONFIG)}"
            )
        if key == "labels" and isinstance(value, Mapping):
            merged = copy.deepcopy(out.get("labels") or {})
            for lang_or_name, entry in value.items():
                if lang_or_name in ("fr", "en") and isinstance(entry, Mapping):
                    merged.setdefault(lang_or_name, {}).update(entry)
                else:  # language-independent label: applies to both languages
                    for lang in ("fr", "en"):
                        merged.setdefault(lang, {})[lang_or_name] = entry
            out["labels"] = merged
        else:
            out[key] = copy.deepcopy(value)
    if out["lang"] not in ("fr", "en"):
        raise PerceptionError(f"{source}: lang must be 'fr' or 'en', got {out['lang']!r}")
    return out
