"""Run names: the nearest preset and what differs, the same whatever order a stored config's keys
come in (a result's meta and the store's listing may order them differently)."""

from dashboard.content.naming import result_name, run_name
from eos_core.presets import preset


def test_a_preset_is_named_by_itself_and_a_change_by_what_differs():
    assert run_name(preset("teach-selective")) == "teach-selective"
    assert run_name(preset("teach-selective", c=0.5, seed=2)) == "teach-selective · c=0.5 · seed 2"
    assert result_name(preset("teach-selective"), {"step": 96}) == "teach-selective · fork@96"


def test_the_name_does_not_depend_on_the_order_of_the_configs_keys():
    config = preset("teach-digits", image_size=4, n_per_class=40, m=4, lr=0.02).to_dict()
    reordered = dict(reversed(list(config.items())))
    assert run_name(reordered) == run_name(config)
