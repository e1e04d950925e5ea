{{/* Names, labels and the values several templates share. */}}

{{- define "tts-performance-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tts-performance-monitor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tts-performance-monitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tts-performance-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tts-performance-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tts-performance-monitor.labels" -}}
helm.sh/chart: {{ include "tts-performance-monitor.chart" . }}
{{ include "tts-performance-monitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: tts-performance-monitor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tts-performance-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tts-performance-monitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tts-performance-monitor.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repo = printf "%s/%s" .Values.image.registry $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/*
The Prometheus job of the exporter's own scrape: the generated rules select up{job="tts-monitor"}
(src/monitoring/profile.ts), so the ServiceMonitor sets it instead of the Operator's default (the
Service name). tests/integration/helm.test.ts checks the two agree.
*/}}
{{- define "tts-performance-monitor.jobName" -}}
tts-monitor
{{- end }}

{{/* The exporter's config: files/config.json, .Values.config over it, then the chart's addresses. */}}
{{- define "tts-performance-monitor.config" -}}
{{- $base := .Files.Get "files/config.json" | fromJson }}
{{- $config := mergeOverwrite $base (deepCopy .Values.config) }}
{{- $server := default dict (get $config "server") }}
{{- $_ := set $server "listen_address" (printf "0.0.0.0:%d" (int .Values.ports.exporter)) }}
{{- $_ = set $server "dashboard_address" (printf "0.0.0.0:%d" (int .Values.ports.dashboard)) }}
{{- $_ = set $config "server" $server }}
{{- if .Values.gateway.enabled }}
{{- $gateway := default dict (get $config "gateway") }}
{{- $_ = set $gateway "enabled" true }}
{{- $_ = set $gateway "listen_address" (printf "0.0.0.0:%d" (int .Values.ports.gateway)) }}
{{- $_ = set $config "gateway" $gateway }}
{{- end }}
{{- if .Values.hostRoot.enabled }}
{{- $monitoring := default dict (get $config "monitoring") }}
{{- $_ = set $monitoring "host_root" "/host" }}
{{- $_ = set $config "monitoring" $monitoring }}
{{- end }}
{{- toPrettyJson $config }}
{{- end }}

{{/* Engine names /probe accepts: probe.targets, or every enabled engine of the config. */}}
{{- define "tts-performance-monitor.probeTargets" -}}
{{- $targets := list }}
{{- if .Values.probe.targets }}
{{- $targets = .Values.probe.targets }}
{{- else }}
{{- $config := include "tts-performance-monitor.config" . | fromJson }}
{{- /* No engines configured: the exporter probes its embedded engine, named "embedded" (SPEC §4). */}}
{{- range (get $config "engines" | default (list (dict "name" "embedded"))) }}
{{- if ne (toString (get . "enabled")) "false" }}
{{- $targets = append $targets (get . "name") }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $targets }}
{{- end }}

{{- define "tts-performance-monitor.scheme" -}}
{{- if and .Values.webConfig.enabled .Values.webConfig.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{- define "tts-performance-monitor.webConfigSecretName" -}}
{{- default (printf "%s-web-config" (include "tts-performance-monitor.fullname" .)) .Values.webConfig.existingSecret }}
{{- end }}

{{- define "tts-performance-monitor.scrapeAuthSecretName" -}}
{{- default (printf "%s-scrape-auth" (include "tts-performance-monitor.fullname" .)) .Values.webConfig.basicAuth.existingSecret }}
{{- end }}

{{- define "tts-performance-monitor.envSecretName" -}}
{{- default (printf "%s-env" (include "tts-performance-monitor.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* True when the chart creates the environment Secret (some value set, no existing Secret). */}}
{{- define "tts-performance-monitor.envSecretCreated" -}}
{{- $s := .Values.secrets }}
{{- if and (not $s.existingSecret) (or $s.slackWebhook $s.email $s.smtpPassword $s.ingestToken $s.gatewayToken $s.extra) }}true{{ end }}
{{- end }}

{{/* Scheme, TLS and basic auth of a Prometheus scrape (ServiceMonitor endpoint, Probe spec). */}}
{{- define "tts-performance-monitor.scrapeClient" -}}
scheme: {{ include "tts-performance-monitor.scheme" . }}
{{- if and .Values.webConfig.enabled .Values.webConfig.tls.enabled }}
tlsConfig:
  {{- toYaml .Values.webConfig.tls.scraperTlsConfig | nindent 2 }}
{{- end }}
{{- if and .Values.webConfig.enabled .Values.webConfig.basicAuth.enabled }}
basicAuth:
  username:
    name: {{ include "tts-performance-monitor.scrapeAuthSecretName" . }}
    key: username
  password:
    name: {{ include "tts-performance-monitor.scrapeAuthSecretName" . }}
    key: password
{{- end }}
{{- end }}
