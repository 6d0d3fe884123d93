"""Before/after analyses, planning, scales and multiple imputation (being gathered here from the flat layout)."""
