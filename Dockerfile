# One image for the four services; docker-compose picks the service with its command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY contracts/ contracts/
COPY pyproject.toml README.md ./
COPY services/ services/
RUN pip install --no-cache-dir ./contracts . && useradd --system --uid 10001 jumelage
USER jumelage
ENV HOST=0.0.0.0
