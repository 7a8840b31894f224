# The kubegym image: the operator and the agent runner (one image, two entrypoints:
# `kubegym operator` and the agent runner). Task sandboxes use their own images
# from task_images/, which never contain model keys or this image's credentials.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kubegym ./kubegym
COPY operator ./operator
COPY agent_runner ./agent_runner
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[operator,agent]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KUBEGYM_LOG_FORMAT=json \
    # litellm must never fetch its price table at import: the pod may have no egress.
    LITELLM_LOCAL_MODEL_COST_MAP=True
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels 'kubegym[operator,agent]' \
    && rm -rf /wheels \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin kubegym
COPY crds /opt/kubegym/crds
USER 10001:10001
ENTRYPOINT ["kubegym"]
CMD ["--help"]
