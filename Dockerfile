# syntax=docker/dockerfile:1
# opdq production image: web (default command) or worker (`python -m workers.run`).
# Two stages: wheels are built where the compilers are; the final image has none, runs as
# an unprivileged user and holds only the runtime dependencies and the app's files.
#   docker build -t opdq .          (compose.yaml builds it too; docs/operations.md)

ARG PYTHON=python:3.11-slim-bookworm

FROM ${PYTHON} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY workers ./workers
# wheels of the runtime dependencies (no test or bench extras); the app itself runs from
# /app, where schema.sql and static/ sit next to it
RUN pip wheel --no-cache-dir --wheel-dir /wheels . && rm /wheels/opdq-*.whl

FROM ${PYTHON}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PYTHONPATH=/app \
    ENVIRONMENT=production LOG_JSON=true HOST=0.0.0.0 PORT=8000 DATA_DIR=/tmp/opdq
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin opdq
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index /wheels/*.whl
WORKDIR /app
# the build context minus what .dockerignore leaves out (tests, bench, docs, data, VCS)
COPY . /app
USER opdq
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=2)"]
# one uvicorn process per container (scale with more containers, each scraped on its own);
# the same flags as server/runner.py and the Procfile
CMD ["sh", "-c", "exec uvicorn server.app:create_app --factory --host \"$HOST\" --port \"$PORT\" --no-access-log --ws server.ws_live:LiveSocket --ws-per-message-deflate false --ws-max-size 65536 --proxy-headers --no-server-header --log-level warning"]
