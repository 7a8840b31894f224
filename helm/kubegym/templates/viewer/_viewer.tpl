{{/* The viewer's name: its Deployment and Service. */}}
{{- define "kubegym.viewerName" -}}
{{- printf "%s-viewer" (include "kubegym.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The viewer pods' selector labels. */}}
{{- define "kubegym.viewerSelectorLabels" -}}
{{ include "kubegym.selectorLabels" . }}
app.kubernetes.io/component: viewer
{{- end }}

{{/* The viewer's base URL for links (Trials' annotation, dashboards): viewer.url, else the
in-cluster Service when the viewer is deployed, else empty (no links). */}}
{{- define "kubegym.viewerURL" -}}
{{- if .Values.viewer.url -}}
{{- trimSuffix "/" .Values.viewer.url -}}
{{- else if .Values.viewer.enabled -}}
{{- printf "http://%s.%s.svc:%v" (include "kubegym.viewerName" .) .Release.Namespace .Values.viewer.port -}}
{{- end -}}
{{- end }}
