{{/* What the operator does in a watched namespace. */}}
{{- define "hopper-operator.namespacedRules" -}}
# The resource itself: watched (Kopf indexes), merge-PATCHed (finalizer, labels,
# ownerReference to the parent), DELETEd (Ephemeral instances once Stopped/Terminated).
# Never created, updated with PUT, or read with GET.
- apiGroups: [hopper.dev]
  resources: [hopperinstances]
  verbs: [list, watch, patch, delete]
# status is written with a merge PATCH to the /status subresource.
- apiGroups: [hopper.dev]
  resources: [hopperinstances/status]
  verbs: [patch]
# Every ownerReference the operator writes (parent -> child instance, instance ->
# ConfigMap, instance -> Deployment) sets blockOwnerDeletion, which the
# OwnerReferencesPermissionEnforcement admission plugin allows only to who may update the
# owner's finalizers. The plugin is off by default but on in OpenShift and other
# hardened clusters (there, without this rule, every write answers 403: "cannot set
# blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers
# on"). Keep it.
- apiGroups: [hopper.dev]
  resources: [hopperinstances/finalizers]
  verbs: [update]
# The effective-config ConfigMap of each instance: watched (label-selected), created
# with a POST when new, server-side applied (a PATCH) when its config changes, deleted
# on Terminated.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list, watch, create, patch, delete]
# The optional workload: server-side applied (a PATCH, which needs `create` too when it
# creates the Deployment); deleted on Stopped/Terminated.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
# Pods of the workloads are only watched (label-selected): Stopping ends when they are
# gone.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# Transition Events (core/v1) posted by the leader's reconciler (Kopf's own posting is
# off: a standby must post nothing). Only POST: never read, patched or deleted.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* What Kopf reads cluster-wide, whichever namespaces are watched. */}}
{{- define "hopper-operator.clusterRules" -}}
# Kopf: watches CRDs to notice hopperinstances appear or change (e.g. the operator
# started before the CRD was established); without it Kopf retries 9 times, logging
# 403s, then serves only what it found at start-up.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
# Kopf: with `run -n/--namespace` it observes namespaces (to follow the names it is
# given); without it start-up stalls ~20 s on retried 403s before Kopf falls back to the
# listed names. Namespace names and labels only.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

{{/* The secure metrics endpoint asks the API server about each new bearer token. */}}
{{- define "hopper-operator.metricsAuthRules" -}}
{{- if and .Values.metrics.enabled (eq .Values.metrics.auth "kubernetes") }}
# The metrics endpoint (metrics.auth=kubernetes) asks the API server who each new bearer
# token belongs to and whether that user may `get` /metrics, as controller-runtime's
# secure metrics do. These reviews read nothing and change nothing; they are what the
# built-in system:auth-delegator role grants.
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end }}
{{- end }}
