{{/* The REST Instance API's objects: named <fullname>-api, labelled as the chart's with component api (its pods are selected apart from the operator's). */}}
{{- define "hopper-operator.api.fullname" -}}
{{- printf "%s-api" (include "hopper-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hopper-operator.api.selectorLabels" -}}
{{- include "hopper-operator.selectorLabels" . | replace "app.kubernetes.io/component: controller" "app.kubernetes.io/component: api" }}
{{- end }}

{{- define "hopper-operator.api.metadata" -}}
{{- include "hopper-operator.metadata" (dict "ctx" .) | replace "app.kubernetes.io/component: controller" "app.kubernetes.io/component: api" }}
{{- end }}
