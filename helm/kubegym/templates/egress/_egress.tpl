{{/* The egress proxy's name: its Deployment, Service and NetworkPolicy. */}}
{{- define "kubegym.egressName" -}}
{{- printf "%s-egress" (include "kubegym.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The egress proxy pods' selector labels (the sandboxes' NetworkPolicy peer). */}}
{{- define "kubegym.egressSelectorLabels" -}}
{{ include "kubegym.selectorLabels" . }}
app.kubernetes.io/component: egress-proxy
{{- end }}

{{/* The Secret holding the signing key: egressProxy.existingSecret, else the chart's own. */}}
{{- define "kubegym.egressSecretName" -}}
{{- default (printf "%s-key" (include "kubegym.egressName" .)) .Values.egressProxy.existingSecret }}
{{- end }}
