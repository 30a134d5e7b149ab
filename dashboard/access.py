"""Who may do what: each browser session's owner id, and the deployment's access token.

On a laptop (no EOS_ACCESS_TOKEN) everything works, as a local Jupyter or TensorBoard does: the
dashboard binds to localhost. On a shared server the deployer sets EOS_ACCESS_TOKEN; what spends
compute or changes data (run, fork, cancel, retry, re-run, delete, notes) then waits until the
session has entered it, in the sidebar or once as `?token=` on the URL (removed from the URL at
once, as Jupyter does). Viewing stays open unless EOS_PRIVATE=1. An image that listens on every
address sets EOS_REQUIRE_TOKEN=1: with no token set there, those actions are off and the sidebar
says how to set one, so a deployment is never open by default.

The token is compared in constant time and never logged, echoed or kept in the session: only the
fact that this session entered it is.
"""

from __future__ import annotations

import hmac
import os
import secrets

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from eos_core.runs.queue import may_change

TOKEN_ENV, PRIVATE_ENV, REQUIRE_ENV = "EOS_ACCESS_TOKEN", "EOS_PRIVATE", "EOS_REQUIRE_TOKEN"
_GRANTED = "access_granted"
NO_TOKEN = (
    "Runs are off: this server is shared and its deployer has set no access token. Set one at deploy "
    "time, e.g. `EOS_ACCESS_TOKEN=$(openssl rand -hex 16) docker compose up -d`, and give it to the class."
)
ENTER_TOKEN = "Enter this server's access token in the sidebar to run, fork, cancel or change runs."
NOT_YOURS = "Queued by another browser session: only that session can cancel, retry or delete it."


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _token() -> str:
    return os.environ.get(TOKEN_ENV, "").strip()


def owner() -> str:
    """This browser session's id: the owner of the jobs it queues (a reload is a new session)."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        return ctx.session_id
    return st.session_state.setdefault("owner", secrets.token_hex(16))


def locked() -> str | None:
    """Why this session may not spend compute or change data now, or None when it may."""
    if not _token():
        return NO_TOKEN if _flag(REQUIRE_ENV) else None
    return None if st.session_state.get(_GRANTED) else ENTER_TOKEN


def refusal(job: dict | None) -> str | None:
    """Why this session may not cancel, retry or delete `job` (None: it may)."""
    return locked() or (None if may_change(job, owner()) else NOT_YOURS)


def matches(candidate: str) -> bool:
    """Whether `candidate` is the configured token, compared in constant time."""
    token = _token()
    return bool(token) and hmac.compare_digest(candidate.strip().encode(), token.encode())


def gate() -> bool:
    """Take a `?token=` off the URL, show the sidebar's token form while one is needed; False when
    this session may not even view the pages (EOS_PRIVATE=1 and no token entered): the caller then
    shows `locked_page` instead."""
    given = st.query_params.get("token")
    if given is not None:
        del st.query_params["token"]  # out of the address bar and the browser's history
        if matches(given):
            st.session_state[_GRANTED] = True
    viewable = not _flag(PRIVATE_ENV) or bool(st.session_state.get(_GRANTED))
    reason = locked()
    if reason == NO_TOKEN:
        st.sidebar.warning(NO_TOKEN, icon=":material/lock:")
    elif reason and viewable:
        _token_form(st.sidebar)
    return viewable


def locked_page() -> None:
    """All a private server shows before its token is entered."""
    st.title("EoS Explorer")
    if not _token():
        st.error(NO_TOKEN.replace("Runs are off", "This server is private"), icon=":material/lock:")
        return
    st.info("This server is private: enter its access token to open it.", icon=":material/lock:")
    _token_form(st)


def _token_form(where) -> None:
    with where.form("access", clear_on_submit=True):  # cleared: the field never holds it afterwards
        entered = st.text_input("Access token", type="password", help="Given by whoever runs this server.")
        if st.form_submit_button("Unlock", icon=":material/lock_open:"):
            if matches(entered):
                st.session_state[_GRANTED] = True
                st.rerun()
            st.error("That is not this server's access token.")
