# The app image for deployment (docker-compose.yml). Development uses `make run` instead.
FROM python:3.11-slim
WORKDIR /app
# Chromium renders the thematic maps' PNG/PDF exports (layers/thematic/export.py); CJK fonts for their labels.
RUN apt-get update && apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY geo geo
COPY layers layers
COPY tiles tiles
COPY api api
COPY webmap webmap
COPY etl etl
RUN pip install --no-cache-dir .
ENV CHENGJIAN_HOST=0.0.0.0 CHENGJIAN_PORT=8000 CHENGJIAN_DEV_AUTH=false
EXPOSE 8000
CMD ["sh", "-c", "chengjian db migrate && chengjian demo --if-empty && chengjian serve --host 0.0.0.0 --workers 2"]
