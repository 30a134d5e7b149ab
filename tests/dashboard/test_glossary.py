"""The glossary covers every term the pages show and every field of the form."""

import dataclasses

from dashboard.content.glossary import FIELD_HELP, TERMS, by_section, explain
from eos_core.config import RunConfig

# What the issue lists as shown on screen, by the glossary key that explains it.
ON_SCREEN = (
    "lambda1",
    "v1",
    "threshold",
    "t_star",
    "t_star_star",
    "c",
    "effective_time",
    "two_step_average",
    "delta_equal_time",
    "delta_same_step",
    "cos2",
    "curvature_influence",
    "Q",
    "R",
    "a_S",
    "b_S",
    "onset_fraction",
    "knn_ambiguity",
    "centroid_distance",
    "spearman_rho",
    "pgd_eps",
    "alpha_test",
    "C1",
    "C2",
    "C3",
    "C4",
    "C5",
    "C6",
    "C7",
    "C8",
)


def test_every_run_config_field_has_help():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert fields <= set(FIELD_HELP), sorted(fields - set(FIELD_HELP))
    assert set(FIELD_HELP) <= fields, "help for a field that does not exist"
    assert all(len(text.strip()) > 10 for text in FIELD_HELP.values())


def test_every_listed_term_is_explained():
    missing = [key for key in ON_SCREEN if key not in TERMS]
    assert not missing
    for key, term in TERMS.items():
        assert term.symbol.strip() and term.name.strip() and len(term.text) > 20, key
        # one or two plain sentences
        assert term.text.count(". ") <= 1 and term.text.endswith((".", ")")), key


def test_the_two_delta_names_and_the_decomposition_symbols_are_distinct():
    symbols = [t.symbol for t in TERMS.values()]
    assert len(symbols) == len(set(symbols))
    assert TERMS["delta_equal_time"].symbol != TERMS["delta_same_step"].symbol
    assert "α" not in TERMS["a_S"].symbol and "β" not in TERMS["b_S"].symbol


def test_sections_hold_every_term_once():
    listed = [key for entries in by_section().values() for key, _ in entries]
    assert sorted(listed) == sorted(TERMS)
    assert explain("cos2").startswith("cos²θ_k (directional alignment): ")
