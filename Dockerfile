# One image for every tachigo process; the command picks it (api, worker, migrate).
# Built by docker-compose.yml; dev infrastructure without Docker is `tachigo dev up`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY tachigo ./tachigo
RUN pip install . \
    && useradd --system --user-group --no-create-home --shell /usr/sbin/nologin tachigo

USER tachigo
ENTRYPOINT ["tachigo"]
CMD ["api"]
