"""Personal data: the columns a questionnaire flags ``pii: true``, dropped or replaced
by a keyed hash.

:func:`hash_value` is the one keyed hash of the package (HMAC-SHA256 of the cell's text,
:func:`perception.questionnaire.cells.code_text`): :func:`perception.read_wave` with
``keep_pii="hash"``, :func:`hash_pii` and :func:`perception.anonymise_wave` give the same
hash for the same value and key, so waves can be linked without the identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DisclosureError
from ..questionnaire.cells import code_text
from ..questionnaire.model import Questionnaire

__all__ = ["drop_pii", "hash_pii", "hash_value", "MIN_KEY_BYTES"]

#: shortest HMAC key accepted (bytes)
MIN_KEY_BYTES = 16


def hash_value(value: Any, key: bytes) -> str | float:
    """Keyed HMAC-SHA256 of one cell (hex digest); missing stays NaN.

    Examples
    --------
    >>> hash_value("+223 70 00 00 00", b"0123456789abcdef")[:12]
    '095685b67ff5'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return np.nan
    return hmac.new(key, code_text(value).encode("utf-8"), hashlib.sha256).hexdigest()


def check_frame(df: Any, q: Any, function: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DisclosureError(f"{function} needs a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(q, Questionnaire):
        raise DisclosureError(
            f"{function} needs the wave's Questionnaire (it says which columns are pii), got "
            f"{type(q).__name__}. Fix: pass pc.load_questionnaire(path)."
        )


def drop_pii(df: pd.DataFrame, q: Questionnaire) -> pd.DataFrame:
    """Remove the columns the questionnaire flags ``pii: true``.

    Parameters
    ----------
    df : DataFrame
        A wave; never modified.
    q : Questionnaire

    Returns
    -------
    DataFrame
        A copy without the pii columns (absent ones are ignored); rows unchanged.

    Examples
    --------
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "rid", "type": "text", "label": "Id"},
    ...     {"name": "phone", "type": "text", "label": "Phone", "pii": True}]})
    >>> list(drop_pii(pd.DataFrame({"rid": ["a"], "phone": ["+223 70"]}), q).columns)
    ['rid']

    Notes
    -----
    R: ``df[setdiff(names(df), pii)]``; ``survey`` has no notion of personal data.
    """
    check_frame(df, q, "drop_pii")
    return df.drop(columns=[c for c in q.pii if c in df.columns])


def secret_key(key: Any) -> bytes:
    if isinstance(key, str):
        raw = key.encode("utf-8")
    elif isinstance(key, bytes):
        raw = key
    else:
        raise DisclosureError(
            f"key must be a secret given as text or bytes, got {type(key).__name__}. Fix: "
            "pass the secret (kept outside the data and never written anywhere)."
        )
    if len(raw) < MIN_KEY_BYTES:
        raise DisclosureError(
            f"key is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed for a keyed hash "
            "that cannot be guessed. Fix: use a longer random secret (e.g. "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`)."
        )
    return raw


def hash_pii(df: pd.DataFrame, q: Questionnaire, key: str | bytes) -> pd.DataFrame:
    """Replace every value of the ``pii: true`` columns by its keyed HMAC-SHA256 hash.

    The same value and key always give the same 64-character hex digest, so records can
    be linked across waves and files without the identifiers; without the key the hash
    cannot be reversed or recomputed from a guess. The key is used only here: it is
    not stored in the result, its attributes or any message.

    Parameters
    ----------
    df : DataFrame
        A wave; never modified.
    q : Questionnaire
    key : str or bytes
        The secret (at least 16 bytes). Required.

    Returns
    -------
    DataFrame
        A copy whose pii columns hold hex digests (text); missing values stay missing.
        A cell is hashed as the text it shows (numbers without a trailing ``.0``,
        surrounding spaces kept).

    Examples
    --------
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "phone", "type": "text", "label": "Phone", "pii": True}]})
    >>> out = hash_pii(pd.DataFrame({"phone": ["+223 70 00 00 00", None]}), q,
    ...                key="0123456789abcdef")
    >>> out["phone"].str.len().tolist()
    [64.0, nan]

    Notes
    -----
    Uses :func:`hash_value` (HMAC-SHA256, RFC 2104), as
    ``read_wave(keep_pii="hash")`` does. R: ``digest::hmac(key, value, "sha256")``.
    """
    check_frame(df, q, "hash_pii")
    return hash_columns(df, [c for c in q.pii if c in df.columns], secret_key(key))


def hash_columns(df: pd.DataFrame, columns: Sequence[str], secret: bytes) -> pd.DataFrame:
    out = df.copy()
    for column in columns:
        out[column] = pd.Series(
            [hash_value(v, secret) for v in df[column].tolist()], index=df.index, dtype="str"
        )
    return out
