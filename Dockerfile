# One image for the receiver and every Airflow component (the command differs),
# plus a separate target for the local BigQuery emulator (Python 3.13, its own lock).
# The app installs requirements-runtime.lock only: what the receiver and the Airflow components
# import (the extras receiver and pipeline, at the development lock's versions, without the
# Google provider's Ray, Vertex AI and Ads: requirements-runtime.overrides), no test, lint,
# browser or embedded-stack package (tests/unit/test_runtime_lock.py). The bench DAG
# dags/per_file_floor.py stays out of the build context (.dockerignore): no deployment loads it.

# The compiled MRT converter (cloudz/convert/_fastmrt.c): built here, so the app image needs no
# compiler. The wheel goes to site-packages; the in-place .so to /opt/cloudz/cloudz (on sys.path).
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libbz2-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY cloudz ./cloudz
COPY ingest_service ./ingest_service
RUN pip install --no-cache-dir "setuptools>=75" wheel \
    && python setup.py build_ext --inplace \
    && pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS app
# PYTHONPATH: the source tree (with include/schemas and the built extension) before
# site-packages, for every process: receiver, api-server, scheduler and the workers it forks
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/cloudz/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/cloudz/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYTHONPATH=/opt/cloudz:/opt/cloudz/include/airflow_config
RUN useradd --system --uid 50000 --home-dir /opt/airflow --create-home cloudz
WORKDIR /opt/cloudz
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --system --no-cache --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY cloudz ./cloudz
COPY ingest_service ./ingest_service
COPY include ./include
COPY proto ./proto
COPY --from=build /src/cloudz/convert/_fastmrt*.so ./cloudz/convert/
COPY --from=build /wheels /wheels
RUN uv pip install --system --no-cache --no-deps /wheels/*.whl && rm -rf /wheels
COPY dags ./dags
COPY plugins ./plugins
USER cloudz
EXPOSE 50051 9464 8080
CMD ["python", "-m", "ingest_service.server"]

FROM python:3.13-slim-bookworm AS bigquery-emulator
WORKDIR /opt/bq
COPY requirements-bigquery-emulator.lock scripts/setup-bigquery-emulator ./
RUN pip install --no-cache-dir uv==0.13.9 \
    && mkdir -p scripts && mv setup-bigquery-emulator scripts/ \
    && CLOUDZ_PYTHON313=/usr/local/bin/python3.13 CLOUDZ_BQ_VENV=/opt/bq/venv scripts/setup-bigquery-emulator
ENV HOME=/opt/bq/venv/duckdb-home
EXPOSE 9050 9060
CMD ["/opt/bq/venv/bin/local-bigquery", "serve", "--host", "0.0.0.0", "--port", "9050", \
     "--grpc-port", "9060", "--data-dir", "/data", "--project", "local-project"]
