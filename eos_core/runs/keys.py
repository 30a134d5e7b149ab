"""The one key scheme of the store: every module that builds or parses a key uses `Keys`.

    result/<config_hash>         a result's zip            meta/<config_hash>    its small meta (JSON)
    baseline/<baseline_hash>     a finished baseline       job/<config_hash>     a job record (JSON)
    live/<config_hash>           a running job's trace     note/<config_hash>    a user's name, tags, note
    ckpt/baseline/<baseline_hash>, ckpt/exit/<config_hash>  a branch's checkpoint while it trains
    worker/<host>:<pid>          a live worker's heartbeat count/<name>          a training counter
    spectra/<config_hash>        the run's Hessian spectra (JSON list, analysis.spectrum)

Torch-free.
"""

from __future__ import annotations


class Keys:
    """Builders (`Keys.result(h)`), prefixes for listings (`Keys.prefix("meta")`) and the parser
    (`Keys.parse(key)` → (kind, ident)). A kind is the key's prefix without its slash."""

    KINDS = (
        "result",
        "meta",
        "baseline",
        "job",
        "live",
        "note",
        "ckpt/baseline",
        "ckpt/exit",
        "worker",
        "count",
        "spectra",
    )
    RUN = ("result", "meta", "job", "live", "ckpt/exit", "note", "spectra")  # what a run owns, by its config hash

    @staticmethod
    def of(kind: str, ident: str) -> str:
        if kind not in Keys.KINDS:
            raise ValueError(f"unknown key kind {kind!r}")
        return f"{kind}/{ident}"

    @staticmethod
    def prefix(kind: str) -> str:
        return Keys.of(kind, "")

    @staticmethod
    def parse(key: str) -> tuple[str, str]:
        """(kind, ident) of a stored key; ValueError for a key outside the scheme."""
        for kind in sorted(Keys.KINDS, key=len, reverse=True):  # ckpt/exit before a shorter kind
            if key.startswith(f"{kind}/"):
                return kind, key[len(kind) + 1 :]
        raise ValueError(f"{key!r} is not a store key")

    @staticmethod
    def ident(key: str) -> str:
        return Keys.parse(key)[1]

    result = staticmethod(lambda config_hash: Keys.of("result", config_hash))
    meta = staticmethod(lambda config_hash: Keys.of("meta", config_hash))
    baseline = staticmethod(lambda baseline_hash: Keys.of("baseline", baseline_hash))
    job = staticmethod(lambda config_hash: Keys.of("job", config_hash))
    live = staticmethod(lambda config_hash: Keys.of("live", config_hash))
    note = staticmethod(lambda config_hash: Keys.of("note", config_hash))
    ckpt_baseline = staticmethod(lambda baseline_hash: Keys.of("ckpt/baseline", baseline_hash))
    ckpt_exit = staticmethod(lambda config_hash: Keys.of("ckpt/exit", config_hash))
    count = staticmethod(lambda name: Keys.of("count", name))
    spectra = staticmethod(lambda config_hash: Keys.of("spectra", config_hash))

    @staticmethod
    def worker(host: str, pid) -> str:
        return Keys.of("worker", f"{host}:{pid}")

    @staticmethod
    def worker_of(key: str) -> tuple[str, int]:
        """(host, pid) of a worker/<host>:<pid> key."""
        kind, ident = Keys.parse(key)
        if kind != "worker":
            raise ValueError(f"{key!r} is not a worker key")
        host, _, pid = ident.rpartition(":")
        return host, int(pid)
