"""What a user says about a run — a name, tags, a note — stored beside its result under
`note/<config_hash>`, outside the config and its hash: renaming a run never makes it a new run.
Torch-free (the dashboard edits them)."""

from __future__ import annotations

from eos_core.runs.store import CorruptEntry, Store

NAME_LIMIT, NOTE_LIMIT, TAG_LIMIT = 120, 4000, 40


def annotations(store: Store) -> dict[str, dict]:
    """Every readable annotation by config hash (an unreadable one is skipped)."""
    return {a["id"]: a for a in store.notes() if "id" in a}


def annotate(store: Store, config_hash: str, name: str = "", tags: list[str] = (), note: str = "") -> dict:
    """Set (or with all fields empty, remove) the annotation of a run."""
    tags = sorted({t.strip()[:TAG_LIMIT] for t in tags if t.strip()})
    record = {"id": config_hash, "name": name.strip()[:NAME_LIMIT], "tags": tags, "note": note.strip()[:NOTE_LIMIT]}
    store.put_note(config_hash, record if record["name"] or tags or record["note"] else None)
    return record


def annotation(store: Store, config_hash: str) -> dict:
    try:
        return store.note(config_hash) or {}
    except CorruptEntry:
        return {}
