{{/* The chart's name, or nameOverride. */}}
{{- define "hopper-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: fullnameOverride, or the release name (with the chart's name appended unless the release name contains it). */}}
{{- define "hopper-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "hopper-operator.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* What selects the operator's pods: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "hopper-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hopper-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Labels of every object. */}}
{{- define "hopper-operator.labels" -}}
{{ include "hopper-operator.selectorLabels" . }}
app.kubernetes.io/part-of: hopper-operator
app.kubernetes.io/version: {{ include "hopper-operator.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.labels, and commonAnnotations when there are any; `extra` adds labels. Use: include "hopper-operator.metadata" (dict "ctx" $ "extra" .Values.x.labels) */}}
{{- define "hopper-operator.metadata" -}}
labels:
  {{- include "hopper-operator.labels" .ctx | nindent 2 }}
  {{- with .extra }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .ctx.Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "hopper-operator.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* repository:tag, or repository:tag@digest when a digest is given (the digest is what is pulled). */}}
{{- define "hopper-operator.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository (include "hopper-operator.tag" .) }}
{{- if .Values.image.digest }}
{{- $image = printf "%s@%s" $image .Values.image.digest }}
{{- end }}
{{- $image }}
{{- end }}

{{- define "hopper-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hopper-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The metrics Service's name: also the `job` label Prometheus gives the scraped series (a ServiceMonitor's default), which the alert rules select by. */}}
{{- define "hopper-operator.metricsService" -}}
{{- printf "%s-metrics" (include "hopper-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hopper-operator.leaseName" -}}
{{- default (include "hopper-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The pod's affinity: the values', with the replicas spread across nodes unless it says otherwise. */}}
{{- define "hopper-operator.affinity" -}}
{{- $affinity := deepCopy .Values.affinity }}
{{- if and (ne .Values.podAntiAffinity "none") (not (hasKey $affinity "podAntiAffinity")) }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "hopper-operator.selectorLabels" . | fromYaml)) }}
{{- if eq .Values.podAntiAffinity "hard" }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- with $affinity }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* The webhook Service, the Secret of its certificate, and the names the certificate is for. */}}
{{- define "hopper-operator.webhookService" -}}
{{- printf "%s-webhook" (include "hopper-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hopper-operator.webhookSecret" -}}
{{- default (printf "%s-webhook-tls" (include "hopper-operator.fullname" .)) .Values.webhooks.certificate.secretName }}
{{- end }}

{{- define "hopper-operator.webhookHosts" -}}
{{- $service := include "hopper-operator.webhookService" . }}
{{- $ns := .Release.Namespace }}
- {{ printf "%s.%s.svc" $service $ns }}
- {{ printf "%s.%s.svc.cluster.local" $service $ns }}
- {{ printf "%s.%s" $service $ns }}
- {{ $service }}
{{- end }}
