# EoS Explorer: Streamlit dashboard (default CMD) and job worker (`python -m eos_core worker`).
# torch==2.14.1 from PyPI is built for CUDA 13.0 and ships its own CUDA libraries, so the host
# needs only the NVIDIA driver (580 or newer) and the NVIDIA Container Toolkit.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    EOS_CACHE_DIR=/cache \
    EOS_DATA_DIR=/cache/data \
    PYTHONPATH=/app

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

COPY --chown=eos:eos . .

USER eos

VOLUME /cache
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status == 200 else 1)"]

CMD ["streamlit", "run", "dashboard/app.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.fileWatcherType=none", "--server.headless=true"]
