"""Reading a questionnaire file: YAML with PyYAML's safe loader, made stricter.

:func:`load_questionnaire` refuses a file that is missing, too large or not UTF-8,
parses it with a safe loader that also rejects duplicate keys and aliases, then builds
and checks the :class:`~perception.questionnaire.model.Questionnaire`
(:meth:`~perception.questionnaire.model.Questionnaire.from_dict`).

Examples
--------
>>> from pathlib import Path
>>> import perception as pc
>>> root = Path(pc.__file__).resolve().parents[1]
>>> q = pc.load_questionnaire(root / "questionnaires" / "centre_mali_trust.yaml")
>>> q.roles["weight"]
'w_final'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import QuestionnaireError
from .model import Questionnaire

__all__ = ["load_questionnaire", "MAX_QUESTIONNAIRE_BYTES"]

#: largest questionnaire file accepted by default (bytes)
MAX_QUESTIONNAIRE_BYTES = 2_000_000


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, rejecting duplicate keys and aliases."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed in a questionnaire; name reusable code "
                "lists under code_lists/missing_sets instead",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            marker = (type(key) is bool, key)
            hash(marker)
        except TypeError:
            continue
        line = key_node.start_mark.line + 1
        if marker in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[marker]}); each name or code "
                "may appear only once in a mapping",
                key_node.start_mark,
            )
        seen[marker] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_questionnaire(
    path: str | Path, *, max_bytes: int = MAX_QUESTIONNAIRE_BYTES
) -> Questionnaire:
    """Read and check a YAML questionnaire.

    Parameters
    ----------
    path : str or Path
        The questionnaire file (UTF-8 YAML, format ``perception-questionnaire/1``).
    max_bytes : int
        Largest file accepted; larger files are refused before reading.

    Returns
    -------
    Questionnaire

    Raises
    ------
    QuestionnaireError
        If the file is missing, too large, not UTF-8, not YAML, or declares an invalid
        questionnaire. The message lists every problem with file, variable, field and fix.

    Examples
    --------
    >>> from pathlib import Path
    >>> import perception as pc
    >>> root = Path(pc.__file__).resolve().parents[1]
    >>> q = pc.load_questionnaire(root / "questionnaires" / "centre_mali_trust.yaml")
    >>> q.variable("age").missing_codes
    [998, 999]
    """
    path = Path(path)
    if not path.exists():
        raise QuestionnaireError(
            f"questionnaire file not found: {path}. Fix: check the path (relative paths are "
            f"relative to the current directory {Path.cwd()})."
        )
    if not path.is_file():
        raise QuestionnaireError(f"{path} is not a file. Fix: give the path of a .yaml file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise QuestionnaireError(
            f"{path}: file of {size:,} bytes exceeds the limit of {max_bytes:,} bytes for a "
            "questionnaire. Fix: check this is the right file, or raise max_bytes."
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise QuestionnaireError(f"{path}: the file is empty. Fix: write the questionnaire.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise QuestionnaireError(
            f"{path}: not UTF-8 text (byte {exc.start}, line {line}: {raw[exc.start : exc.start + 1]!r}). "
            "Fix: save the file as UTF-8."
        ) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        problem = getattr(exc, "problem", None) or str(exc)
        raise QuestionnaireError(
            f"{path}: invalid YAML at {where}: {problem}. Fix: correct the YAML syntax "
            "(indentation, colons, quotes) there."
        ) from None
    if not isinstance(data, Mapping):
        raise QuestionnaireError(
            f"{path}: the file must hold a mapping (id:, languages:, modules: ...), not "
            f"{type(data).__name__}. Fix: see docs/questionnaire_format.md."
        )
    return Questionnaire.from_dict(data, source=str(path))
