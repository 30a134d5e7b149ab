"""No traceback, exception text or server path reaches a browser; the server log keeps them."""

import logging
import tomllib

from harness import ROOT
from streamlit.testing.v1 import AppTest


def test_config_hides_error_details_from_the_browser():
    config = tomllib.loads((ROOT / "dashboard" / "streamlit.toml").read_text())  # `eos dashboard` passes it on
    assert config["client"]["showErrorDetails"] == "none"


def test_an_uncaught_exception_shows_a_generic_message_and_is_logged(monkeypatch, caplog):
    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml (→ dashboard/streamlit.toml) from here
    with caplog.at_level(logging.ERROR):
        at = AppTest.from_string("raise ValueError('secret in /srv/private/file.py')").run()
    shown = at.exception[0]
    assert "secret" not in shown.message and "/srv/private" not in shown.message
    assert not shown.stack_trace and "ValueError" not in str(shown.proto)
    assert "secret in /srv/private/file.py" in caplog.text
