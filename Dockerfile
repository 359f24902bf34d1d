# Mission Control service image (no Docker engine on the development machines: the file is
# validated through docker-compose.yml only; see README "MQTT and scale-out").
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY flight_plans ./flight_plans
COPY mission_control ./mission_control
COPY sim ./sim
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["mission-control", "serve", "--host", "0.0.0.0"]
