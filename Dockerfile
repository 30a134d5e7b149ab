# EoS Explorer: the dashboard (default CMD, `eos dashboard`) and the job worker (`eos worker`).
# torch==2.14.1 from PyPI is built for CUDA 13.0 and ships its own CUDA libraries, so the host
# needs only the NVIDIA driver (580 or newer) and the NVIDIA Container Toolkit.

# ---- build: the project's wheel (the engine and the dashboard), from the sources it is made of
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.txt README.md ./
COPY eos_core eos_core
COPY dashboard dashboard
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- runtime: the pinned requirements, then the wheel; no source tree
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    EOS_CACHE_DIR=/cache \
    EOS_DATA_DIR=/cache/data

# Non-root user owning the app and the cache. A fresh named volume copies /cache's owner and
# mode, so the results stay private to that user (0700) on the host as well.
RUN groupadd --gid 1000 eos \
    && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin eos \
    && mkdir -p /app /cache/data \
    && chown -R eos:eos /app /cache \
    && chmod 0700 /cache

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. Only the runtime: the test tools
# (requirements-dev.txt) stay out of the image. The environment sits where scripts/setup.sh
# expects one, so the project's scripts run unchanged inside the container.
COPY requirements.txt .
RUN python -m venv /app/.venv \
    && pip install --no-cache-dir -r requirements.txt

# The project, as its wheel: its dependencies are the requirements.txt installed above.
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/eos_explorer-*.whl \
    && rm -rf /tmp/wheels

# What the image carries besides the package: the scripts that run inside it (setup.sh, which
# finds everything installed, and bench_gpu.sh).
COPY --chown=eos:eos scripts /app/scripts

USER eos

VOLUME /cache
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status == 200 else 1)"]

# It listens on every address (a container must), so it is not open by default: EOS_REQUIRE_TOKEN
# keeps Run, Fork, Cancel, Retry, Re-run, Delete and notes off until the deployer sets an access
# token at run time (`-e EOS_ACCESS_TOKEN=...`; compose passes it from the environment) and a user
# enters it; EOS_PRIVATE=1 closes viewing too. Never bake the token into the image.
ENV EOS_REQUIRE_TOKEN=1
CMD ["eos", "dashboard", "--server.port=8501", "--server.address=0.0.0.0", "--server.fileWatcherType=none", "--server.headless=true"]
