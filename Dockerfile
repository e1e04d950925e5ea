# The exporter image: the compiled package (dist/, built in a first stage with the dev dependencies),
# production dependencies only, pocketsphinx + its en-us model for the intelligibility metric, non-root.
FROM node:20.19.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
RUN npm run build

FROM node:20.19.0-bookworm-slim

# pocketsphinx: offline recogniser for tts_intelligibility_ratio (SPEC §6); flite: a command-line
# engine the config can point to. ca-certificates: HTTPS engines and webhooks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pocketsphinx pocketsphinx-en-us flite ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# .npmrc: onnxruntime-node-install=skip (its postinstall would fetch CUDA libraries from nuget.org).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY config ./config
COPY models ./models
COPY proto ./proto
COPY alerting-rules ./alerting-rules
COPY alertmanager ./alertmanager

# The compose stack renders alertmanager.yml into this directory (a named volume shared with
# Alertmanager, which runs as nobody): created here so the volume starts out owned by nobody.
RUN mkdir -p /etc/alertmanager/rendered && chown 65534:65534 /etc/alertmanager/rendered

USER node
ENV NODE_ENV=production
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/-/healthy').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--prometheus-export", "--config", "config/config.json"]
