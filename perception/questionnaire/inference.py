"""What an XLSForm does not say and the import infers: language codes, missing-value
codes, personal data, the kind of the codes; and the notes that report each inference
once, with its rows.

XLSForm has no column for missing codes or personal data, so the import infers them from
names and labels and says so; the user confirms (or corrects) them in the YAML:

- **missing codes**: choices named or labelled like don't know / refused / prefer not to
  say / no answer (``dk``, ``refuse``, ``prefer_not``, ``-99``, ``-88``, "ne sait pas",
  "refus" ...), and ``98``/``99``/``999``-like codes that stand apart from a short scale;
- **personal data** (``pii``): locations (``geopoint``, ``geotrace``, ``geoshape``),
  pictures, recordings and files, device and SIM metadata (``deviceid``, ``phonenumber``
  ...), and text questions whose name or label asks for a name or a phone number;
- **code types**: a list whose names are all whole numbers has integer codes; any other
  list keeps every name as text (``hand_pump``, ``0.5``, ``1``).

Examples
--------
>>> language_code("French (fr)"), language_code("english"), language_code("Bambara")
('fr', 'en', 'bm')
>>> is_missing_choice("dk", {"en": "Don't know"}, [1, 2, 3])
True
>>> is_missing_choice(99, {"en": "99 years"}, list(range(1, 120)))
False
>>> pii_reason("text", "resp_name", {"en": "Name of the respondent"})
'name-like text'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Notes",
    "language_code",
    "is_missing_choice",
    "pii_reason",
    "code_type_of",
    "normalised",
]

_LANGUAGE_CODES = {
    "french": "fr", "francais": "fr", "english": "en", "anglais": "en", "bambara": "bm",
    "bamanankan": "bm", "fulfulde": "ff", "fula": "ff", "peul": "ff", "pulaar": "ff",
    "songhay": "ses", "sonrhai": "ses", "dogon": "dgo", "arabic": "ar", "arabe": "ar",
    "tamasheq": "taq", "spanish": "es", "espanol": "es", "portuguese": "pt", "swahili": "sw",
    "kiswahili": "sw", "tigrinya": "ti", "amharic": "am", "oromo": "om", "chinese": "zh",
    "hausa": "ha", "somali": "so", "russian": "ru", "ukrainian": "uk", "turkish": "tr",
    "kurdish": "ku", "dari": "prs", "pashto": "ps", "urdu": "ur", "bengali": "bn",
    "hindi": "hi", "nepali": "ne", "burmese": "my",
}
_MISSING_LABEL = re.compile(
    r"\b(ne sait pas|nsp|refus|refuse|refused|refuses|don t know|dont know|do not know|dk|"
    r"no answer|prefer not|prefers not|prefer to not|pas de reponse|sans reponse|"
    r"ne veut pas|ne souhaite pas|declined?|decline to answer|no sabe|no responde|"
    r"non applicable|not applicable|n a)\b"
)
_MISSING_NAMES = frozenset({
    "dk", "dnk", "idk", "dont_know", "do_not_know", "don_t_know", "dontknow", "refuse",
    "refused", "refusal", "refus", "prefer_not", "prefer_not_to_say", "prefer_not_to_answer",
    "prefer_not_answer", "pnta", "pnts", "no_answer", "noanswer", "nsp", "ne_sait_pas",
    "decline", "declined", "decline_to_answer", "na", "n_a", "not_applicable",
})
_MISSING_NEGATIVE = frozenset({-999, -99, -98, -97, -88, -77, -9, -8})
_MISSING_HIGH = {88: 20, 97: 20, 98: 20, 99: 20, 888: 100, 997: 100, 998: 100, 999: 100,
                 9999: 1000}
_OTHER_LABEL = re.compile(r"\b(other|autre|otro|outro|specify|preciser|none|aucun)\b")
_PII_BY_TYPE = {
    "geopoint": "location", "geotrace": "location", "geoshape": "location",
    "start-geopoint": "location", "background-geopoint": "location",
    "image": "picture", "photo": "picture", "audio": "recording", "video": "recording",
    "background-audio": "recording", "file": "file", "signature": "picture", "osm": "file",
}
_NAME_WORDS = re.compile(
    r"(^|_)(name|names|nom|noms|prenom|prenoms|surname|firstname|lastname|fullname|"
    r"first_name|last_name|full_name|family_name|given_name)(_|$)")
_PLACE_WORDS = re.compile(
    r"(village|community|communaute|commune|school|ecole|facility|site|camp|location|"
    r"lieu|locality|localite|district|region|cercle|province|town|city|ville|quartier|"
    r"neighbo|org|organi[sz]ation|ngo|ong|partner|business|shop|market|marche|project|"
    r"programme|program|health|centre|center|hospital|clinic|street|rue|company|"
    r"enterprise|agency|agence|institution|group|association|cooperative|settlement|latin|"
    r"species|brand|product|item|crop|tree|plant|animal|disease|medicine|drug|food|"
    r"language|religion|ethnic|tribe|job|occupation|file|form|survey|enumerator_team)")
_PHONE_WORDS = re.compile(
    r"(^|_)(phone|telephone|tel|tél|mobile|cell|cellphone|portable|whatsapp|contact|"
    r"numero_tel|num_tel|phone_number|msisdn|email|e_mail|courriel|address|adresse)(_|$)")
_AMOUNT_WORDS = re.compile(r"(expend|cost|price|credit|amount|spent|spend|own|has_|access|"
                           r"number_of|nb_|count|use|usage)")
_PHONE_LABEL = re.compile(r"\b(phone|telephone|numero de tel|whatsapp|e mail|email|adresse)\b")
_NAME_LABEL = re.compile(r"\b(name of|your name|full name|first name|nom de l|votre nom|"
                         r"nom et prenom|prenom)\b")
_INT_RE = re.compile(r"^-?\d+$")


def normalised(text: str) -> str:
    """Lower case, no accents, punctuation turned into spaces."""
    bare = unicodedata.normalize("NFKD", str(text))
    bare = "".join(ch for ch in bare if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare).split())


def language_code(name: str) -> str:
    """The code of a language as XLSForm columns write it: ``French (fr)`` -> ``fr``,
    ``english`` -> ``en``, ``fr`` -> ``fr``; an unknown name becomes a code of its own."""
    text = name.strip()
    match = re.search(r"\(([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?)\)\s*$", text)
    if match:
        return match.group(1).lower().replace("-", "_")
    bare = normalised(text)
    if re.fullmatch(r"[a-z]{2,3}", bare):
        return bare
    if bare in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[bare]
    return re.sub(r"[^a-z0-9]+", "_", bare).strip("_") or "default"


def is_missing_choice(name: Any, labels: Mapping[str, str], codes: Sequence[Any]) -> bool:
    """Whether a choice is a don't-know/refused code rather than an answer.

    ``codes`` are the names of every choice of the list (to tell a ``99`` that closes a
    1..5 scale from the age 99).
    """
    label = normalised(" ".join(labels.values()))
    if _OTHER_LABEL.search(label):
        return False
    if _MISSING_LABEL.search(label):
        return True
    text = str(name).strip()
    if normalised(text).replace(" ", "_") in _MISSING_NAMES:
        return True
    if not _INT_RE.match(text):
        return False
    value = int(text)
    if value in _MISSING_NEGATIVE:
        return True
    if value in _MISSING_HIGH:
        others = [int(c) for c in map(str, codes) if _INT_RE.match(c) and int(c) != value
                  and int(c) not in _MISSING_HIGH and int(c) not in _MISSING_NEGATIVE]
        return bool(others) and max(others) < _MISSING_HIGH[value]
    return False


def pii_reason(
    xlsform_type: str, name: str, labels: Mapping[str, str], bind_type: str | None = None
) -> str | None:
    """Why a question is personal data (``"location"``, ``"name-like text"`` ...), or None.

    ``bind_type`` is the XForm type pyxform gives the question (``geopoint`` for the
    alias ``gps``, ``binary`` for pictures and recordings)."""
    if xlsform_type in _PII_BY_TYPE:
        return _PII_BY_TYPE[xlsform_type]
    if bind_type in ("geopoint", "geotrace", "geoshape"):
        return "location"
    if bind_type == "binary":
        return "picture, recording or file"
    if xlsform_type not in ("text", "string", "integer", "int", "decimal", "barcode"):
        return None
    key = normalised(name).replace(" ", "_")
    label = normalised(" ".join(labels.values()))
    text = xlsform_type in ("text", "string", "barcode")
    if (_PHONE_WORDS.search(key) and not _AMOUNT_WORDS.search(key)) or (
            text and _PHONE_LABEL.search(label)):
        return "phone-like or address-like answer"
    if xlsform_type in ("text", "string") and (
        (_NAME_WORDS.search(key) and not _PLACE_WORDS.search(key))
        or (_NAME_LABEL.search(label) and not _PLACE_WORDS.search(label))
    ):
        return "name-like text"
    return None


def code_type_of(names: Sequence[Any]) -> str:
    """``"integer"`` when every choice name is a whole number, else ``"text"``."""
    return "integer" if names and all(_INT_RE.match(str(n).strip()) for n in names) else "text"


@dataclass
class Notes:
    """Notes of an import: each kind of thing reported once, with the rows it concerns."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def add(self, what: str, item: str) -> None:
        """Record ``item`` (e.g. ``"row 12 (age)"``) under the note ``what``."""
        if what not in self.groups:
            self.groups[what] = []
            self.order.append(what)
        if item and item not in self.groups[what]:
            self.groups[what].append(item)

    def lines(self, limit: int = 12) -> list[str]:
        out = []
        for what in self.order:
            items = self.groups[what]
            shown = ", ".join(items[:limit])
            if len(items) > limit:
                shown += f" (and {len(items) - limit} more)"
            out.append(f"{what}: {shown}" if items else what)
        return out
