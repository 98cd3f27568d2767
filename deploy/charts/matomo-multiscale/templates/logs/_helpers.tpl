{{/* Names, labels and images of the log pipeline (templates/logs/), which lives in a namespace of its own. */}}

{{- define "mms.logs.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: logs
app.kubernetes.io/part-of: matomo-multiscale
app.kubernetes.io/version: {{ .root.Values.logs.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "mms.logs.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The collector image (agent and receiver): by digest when one is given. */}}
{{- define "mms.logs.image" -}}
{{- $i := .Values.logs.image -}}
{{- if $i.digest -}}
{{ $i.repository }}@{{ $i.digest }}
{{- else -}}
{{ $i.repository }}:{{ $i.tag }}
{{- end -}}
{{- end -}}

{{/* Where the agent sends: the local receiver's Service, or the endpoint in the export Secret. */}}
{{- define "mms.logs.receiverUrl" -}}
http://otel-receiver.{{ .Values.logs.namespace }}.svc:4318
{{- end -}}

{{/* The collector's container hardening: all that is left when the agent must run as root to read the logs. */}}
{{- define "mms.logs.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
