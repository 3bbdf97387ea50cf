# Two images from one base: `test` (lint and the whole suite, offline) and `production` (what Keboola runs).
# production is the last stage, so a plain `docker build .` builds it; Keboola's CI names both targets.
# BASE_IMAGE: any image with Python 3.11+ on Debian, e.g. a mirror's copy where Docker Hub is out of reach.
ARG BASE_IMAGE=python:3.13-slim
FROM ${BASE_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /code
COPY requirements.txt requirements-dev.txt ./

FROM base AS test
# node and npm build the form page, chromium renders it (tests/form); installed here so the suite needs no network.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm chromium fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN python -m pip install --no-cache-dir -r requirements-dev.txt
COPY tests/form/package.json tests/form/package-lock.json tests/form/
RUN cd tests/form && npm ci --no-audit --no-fund --loglevel=error
COPY . .
# The form test sees its packages as current (it compares their time with package-lock.json).
RUN touch tests/form/node_modules/.package-lock.json
# As in CI: the form test fails, rather than skips, when a tool is missing.
ENV CI=true
CMD ["sh", "-c", "python -m ruff check . && python -m pytest tests -n 4"]

FROM base AS production
RUN python -m pip install --no-cache-dir -r requirements.txt
COPY src/ src/
COPY component_config/ component_config/
CMD ["python", "-u", "src/component.py"]
