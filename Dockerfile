# omnihub: the scheduler daemon (`omnihub run`) with /healthz and /metrics on port 8080.
#
#   docker build -t omnihub .
#   docker run -v "$PWD/config:/config:ro" -v omnihub-data:/data -p 8080:8080 \
#     --env-file config/omnihub.example.env -e OMNIHUB_CONFIG=/config/omnihub.example.yaml omnihub
#
# The config is mounted read-only at /config ($OMNIHUB_CONFIG names the file, /config/omnihub.yaml
# by default). State lives on the /data volume: with SQLite, point the config at it with an absolute
# path (`database: sqlite:////data/omnihub.db`; a relative path would land next to the read-only
# config); in production use PostgreSQL (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 omnihub \
    && useradd --system --uid 10001 --gid omnihub --home-dir /data --no-create-home --shell /usr/sbin/nologin omnihub

WORKDIR /src
# Dependencies first, from pyproject.toml alone: a change to the source reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres'] + p['optional-dependencies']['distributed']))" \
    > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# Then the package itself, without resolving its dependencies again.
COPY README.md ./
COPY hub ./hub
COPY connectors ./connectors
COPY mappings ./mappings
RUN pip install --no-deps . \
    && rm -rf /src/build /src/*.egg-info \
    && mkdir -p /data /config \
    && chown omnihub:omnihub /data

ENV OMNIHUB_CONFIG=/config/omnihub.yaml
WORKDIR /data
VOLUME ["/data"]
USER omnihub

EXPOSE 8080
# `docker stop` sends SIGTERM and waits 10 s (`docker run --stop-timeout`, compose's
# stop_grace_period): the daemon gives the runs in flight 8 s, then cancels them.
STOPSIGNAL SIGTERM
# Unhealthy while jobs fail: /healthz answers 503 then, and urlopen raises on it (exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["omnihub"]
# Every address of the container: loopback inside it would be out of reach of `-p 8080:8080`, of
# compose's other services and of a Prometheus scraping /metrics. (`omnihub run` outside a
# container keeps 127.0.0.1 unless told.)
CMD ["run", "--http-port", "8080", "--http-host", "0.0.0.0"]
