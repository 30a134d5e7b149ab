"""Page options read from the URL. A link is untrusted text: every parameter is checked against
what the page allows, a malformed one gets a warning and its default, and the offending text is
echoed only inside a code span (never as Markdown or HTML, so a link cannot draw links or images)."""

from __future__ import annotations

import re

import streamlit as st

from eos_core.config import ECHO_LIMIT  # characters of a rejected value shown back to the user


def literal(text: str) -> str:
    """`text` as a Markdown code span that shows it verbatim, whatever backticks it contains."""
    text = str(text)
    if len(text) > ECHO_LIMIT:
        text = text[:ECHO_LIMIT] + "…"
    text = text.replace("\n", " ").replace("\r", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def warn(name: str, value: str, expected: str, fallback: str) -> None:
    """The one message for a rejected link parameter (`name`, `expected` and `fallback` are ours)."""
    st.warning(f"The link's {name}={literal(value)} is not {expected}; showing {fallback}.", icon=":material/link_off:")


def choice(name: str, default: str, allowed) -> str:
    """A parameter that must be one of `allowed`."""
    allowed = [str(a) for a in allowed]
    value = st.query_params.get(name)
    if value is None:
        return default
    if value not in allowed:
        warn(name, value, f"one of {', '.join(allowed)}", literal(default))
        return default
    return value


def position(name: str, default: str, allowed) -> int:
    """Where the link's `name` (see `choice`) sits among `allowed`: a widget's `index=`."""
    return list(allowed).index(choice(name, default, allowed))


def flag(name: str, default: bool) -> bool:
    """A 0/1 switch."""
    return choice(name, "1" if default else "0", ("0", "1")) == "1"


def member(name: str, default: int, allowed: list[int]) -> int:
    """A whole number that must be one of `allowed` (e.g. a stored checkpoint step)."""
    value = st.query_params.get(name)
    if value is None:
        return default
    # isascii: str.isdigit also accepts '²' and other digits int() refuses; the length bound keeps
    # int() away from thousands of digits
    if not (value.isascii() and value.isdigit() and len(value) <= 18) or int(value) not in allowed:
        warn(name, value, f"one of the stored values ({_span(allowed)})", str(default))
        return default
    return int(value)


def number(name: str, default: float, low: float, high: float) -> float:
    """A finite number in [low, high]."""
    value = st.query_params.get(name)
    if value is None:
        return default
    try:
        parsed = float(value) if len(value) <= 32 else float("nan")
    except ValueError:
        parsed = float("nan")
    if not low <= parsed <= high:
        warn(name, value, f"a number in [{low:g}, {high:g}]", f"{default:g}")
        return default
    return parsed


def subset(
    name: str, default: list[str], allowed: list[str], limit: int | None = None, what: str = "runs in this cache"
) -> list[str]:
    """A comma-separated list of members of `allowed` (unknown entries dropped with a warning)."""
    value = st.query_params.get(name)
    if value is None:
        return default
    wanted = [v for v in value.split(",") if v]
    kept = list(dict.fromkeys(v for v in wanted if v in allowed))[:limit]
    if len(kept) != len(wanted) or (wanted and not kept) or (not wanted and value):
        warn(
            name,
            value,
            f"a list of {what}" + (f" (at most {limit})" if limit else ""),
            "the ones found" if kept else "the default selection",
        )
    return kept if kept or not value else default


def _span(values: list[int]) -> str:
    return f"{values[0]}…{values[-1]}" if len(values) > 3 else ", ".join(map(str, values))
