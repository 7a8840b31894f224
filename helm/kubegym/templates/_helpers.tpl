{{/*
Names and labels shared by every template. Names are truncated to 63 characters
(the DNS label limit) and never end with a dash.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "kubegym.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name: fullnameOverride, else the release name when it already
holds the chart's name (`helm install kubegym …` gives `kubegym`), else release-chart.
*/}}
{{- define "kubegym.fullname" -}}
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

{{/* The operator's objects: Deployment, Service, RBAC. */}}
{{- define "kubegym.operatorName" -}}
{{- printf "%s-operator" (include "kubegym.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "kubegym.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubegym.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "kubegym.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the chart. */}}
{{- define "kubegym.labels" -}}
helm.sh/chart: {{ include "kubegym.chart" . }}
{{ include "kubegym.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubegym
{{- end }}

{{/* The labels a selector may use: they never change over upgrades. */}}
{{- define "kubegym.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubegym.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's selector labels. */}}
{{- define "kubegym.operatorSelectorLabels" -}}
{{ include "kubegym.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's image: by image.digest when set, else image.tag, else the chart's appVersion. */}}
{{- define "kubegym.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The image of kubegym's own agent pods: operator.agentImage, else the operator's image. */}}
{{- define "kubegym.agentImage" -}}
{{- default (include "kubegym.image" .) .Values.operator.agentImage }}
{{- end }}

{{/* The namespaces the sandbox NetworkPolicy goes in: the release's, the watched one, and more. */}}
{{- define "kubegym.sandboxNamespaces" -}}
{{- $namespaces := list .Release.Namespace }}
{{- with .Values.operator.watchNamespace }}{{ $namespaces = append $namespaces . }}{{ end }}
{{- $namespaces = concat $namespaces .Values.sandboxNetworkPolicy.namespaces }}
{{- $namespaces | uniq | join "," }}
{{- end }}

{{/* imagePullSecrets' names, comma-separated (KUBEGYM_PULL_SECRETS). */}}
{{- define "kubegym.pullSecretNames" -}}
{{- $names := list }}
{{- range .Values.imagePullSecrets }}{{ $names = append $names .name }}{{ end }}
{{- $names | join "," }}
{{- end }}
