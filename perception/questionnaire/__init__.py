"""The questionnaire: its model, loading from YAML, the skip-logic expressions, the
pandera schema it compiles to, and XLSForm import.

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "Questionnaire": "model",
    "load_questionnaire": "loading",
    "questionnaire_from_xlsform": "xlsform",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
    "cell_text": "cells",
    "code_text": "cells",
    "numbers": "cells",
    "with_columns": "derived",
    "present": "cells",
    "texts": "cells",
    "parse_expression": "expressions",
    "Variable": "model",
    "Coarsening": "model",
    "CompiledRules": "schema",
    "compile_rules": "schema",
    "describe_codes": "schema",
    "MAX_XLSFORM_BYTES": "xlsform",
    "convert_xlsform": "xlsform",
    "option_indicators": "multiple",
    "OptionAnswers": "multiple",
    "NOT_ASKED": "multiple",
    "NO_ANSWER": "multiple",
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
