# The exporter image: Node.js running the TypeScript sources through tsx (a runtime dependency),
# production dependencies only, pocketsphinx + its en-us model for the intelligibility metric, non-root.
FROM node:20.19.0-bookworm-slim

# pocketsphinx: offline recogniser for tts_intelligibility_ratio (SPEC §6); flite: a command-line
# engine the config can point to. ca-certificates: HTTPS engines and webhooks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pocketsphinx pocketsphinx-en-us flite ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# .npmrc: onnxruntime-node-install=skip (its postinstall would fetch CUDA libraries from nuget.org).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY config ./config
COPY models ./models
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
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
CMD ["--prometheus-export", "--config", "config/config.json"]
