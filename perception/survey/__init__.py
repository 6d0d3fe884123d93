"""Designs and everything computed from them (being gathered here from the flat layout)."""
