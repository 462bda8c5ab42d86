# omnihub: the scheduler daemon (`omnihub run`) with /healthz and /metrics on port 8080.
#
#   docker build -t omnihub .
#   docker run -v "$PWD/config:/config:ro" -v omnihub-data:/data --env-file .env omnihub
#
# The config is mounted read-only at /config. State lives on the /data volume: with SQLite, point
# the config at it with an absolute path (`database: sqlite:////data/omnihub.db`; a relative path
# would land next to the read-only config); in production use PostgreSQL (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 omnihub \
    && useradd --system --uid 10001 --gid omnihub --home-dir /data --no-create-home --shell /usr/sbin/nologin omnihub

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY connectors ./connectors
COPY mappings ./mappings
RUN pip install ".[postgres]" \
    && rm -rf /src/build /src/*.egg-info \
    && mkdir -p /data /config \
    && chown omnihub:omnihub /data

ENV OMNIHUB_CONFIG=/config/omnihub.yaml
WORKDIR /data
VOLUME ["/data"]
USER omnihub

EXPOSE 8080
# `docker stop` sends SIGTERM and waits 10 s: the daemon gives the run in flight 8 s, then cancels it.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["omnihub"]
CMD ["--config", "/config/omnihub.yaml", "run", "--http-port", "8080"]
