FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
RUN useradd --system --uid 10001 loyalty
USER loyalty
EXPOSE 8000
ENV API_HOST=0.0.0.0 API_PORT=8000
CMD ["loyalty", "api"]
