{{/*
Names, labels, and the checks every render makes before anything is rendered.
*/}}

{{- define "lethe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lethe.fullname" -}}
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

{{- define "lethe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The gateway's pods and the PostgreSQL pod carry different components, so that neither's
selectors match the other's pods. */}}
{{- define "lethe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lethe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "lethe.postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lethe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end }}

{{- define "lethe.commonLabels" -}}
helm.sh/chart: {{ include "lethe.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lethe.labels" -}}
{{ include "lethe.commonLabels" . }}
{{ include "lethe.selectorLabels" . }}
{{- end }}

{{- define "lethe.postgresql.labels" -}}
{{ include "lethe.commonLabels" . }}
{{ include "lethe.postgresql.selectorLabels" . }}
{{- end }}

{{- define "lethe.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "lethe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lethe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the chart makes (adminKey.value or generated, registry.url, PostgreSQL password). */}}
{{- define "lethe.secretName" -}}
{{- include "lethe.fullname" . }}
{{- end }}

{{/* Whether the chart makes a Secret at all: something in it is not in a Secret of yours. */}}
{{- define "lethe.makesSecret" -}}
{{- if or (not .Values.adminKey.existingSecret) .Values.registry.url (and .Values.postgresql.enabled (not .Values.postgresql.auth.existingSecret)) -}}
true
{{- end }}
{{- end }}

{{/*
A value for the chart's Secret: the one given, else the one the installed release's Secret
already holds (so a generated key survives upgrades), else 32 random characters. Takes a dict:
ctx (the root context), key (the Secret's key), value (the given value).
*/}}
{{- define "lethe.secretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "lethe.secretName" .ctx) }}
{{- $data := dict }}
{{- if $existing }}
{{- $data = $existing.data | default dict }}
{{- end }}
{{- if hasKey $data .key }}
{{- index $data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the gateway has a shared registry (PostgreSQL, in the chart or external). */}}
{{- define "lethe.hasRegistry" -}}
{{- if or .Values.postgresql.enabled .Values.registry.url .Values.registry.existingSecret -}}
true
{{- end }}
{{- end }}

{{/* Settings that are secrets or that the chart sets itself: never in `config`. */}}
{{- define "lethe.secretSettings" -}}
admin_key registry_url api_keys tenant_keys upstream_api_key judge_api_key
{{- end }}
{{- define "lethe.chartSettings" -}}
host port data_dir
{{- end }}

{{/* Fails the render with a message saying what to change. */}}
{{- define "lethe.validate" -}}
{{- $pods := int .Values.replicaCount }}
{{- if .Values.autoscaling.enabled }}
{{- $pods = int .Values.autoscaling.maxReplicas }}
{{- end }}
{{- if and (gt $pods 1) (not (include "lethe.hasRegistry" .)) }}
{{- fail (printf "%d gateway replicas need a shared forget registry: set postgresql.enabled=true, registry.url or registry.existingSecret (without one, each pod keeps its own SQLite registry and a forget request holds on one pod only)" $pods) }}
{{- end }}
{{- if and .Values.postgresql.enabled (or .Values.registry.url .Values.registry.existingSecret) }}
{{- fail "set either postgresql.enabled or registry.url/registry.existingSecret, not both" }}
{{- end }}
{{- if and .Values.registry.url .Values.registry.existingSecret }}
{{- fail "set either registry.url or registry.existingSecret, not both" }}
{{- end }}
{{- if and .Values.adminKey.value .Values.adminKey.existingSecret }}
{{- fail "set either adminKey.value or adminKey.existingSecret, not both" }}
{{- end }}
{{- if and .Values.data.persistence.enabled (gt $pods 1) }}
{{- fail (printf "data.persistence gives one pod a volume: it needs replicaCount 1 and no autoscaling (%d pods here); use the emptyDir (data.persistence.enabled=false)" $pods) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- range $name, $_ := .Values.config }}
{{- if has $name (splitList " " (include "lethe.secretSettings" $)) }}
{{- fail (printf "config.%s is a secret and would land in a ConfigMap: use %s" $name (ternary "adminKey.value or adminKey.existingSecret" (ternary "registry.url or registry.existingSecret" "extraEnv with a secretKeyRef" (eq $name "registry_url")) (eq $name "admin_key"))) }}
{{- end }}
{{- if has $name (splitList " " (include "lethe.chartSettings" $)) }}
{{- fail (printf "config.%s is set by the chart (containerPort, the data volume); leave it out of config" $name) }}
{{- end }}
{{- end }}
{{- end }}

{{/* A setting's value as an environment variable: whole numbers without an exponent. */}}
{{- define "lethe.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq (float64 (int64 .)) . }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}
