FROM python:3.13-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /code
COPY requirements.txt requirements-dev.txt ./

FROM base AS production
RUN pip install --no-cache-dir -r requirements.txt
COPY src/ src/
COPY component_config/ component_config/
CMD ["python", "-u", "src/component.py"]

FROM base AS test
RUN pip install --no-cache-dir -r requirements-dev.txt
COPY . .
CMD ["python", "-m", "pytest", "tests"]
