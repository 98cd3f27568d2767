{{/* Names and labels shared by the chart's templates. */}}

{{- define "mms.labels" -}}
app.kubernetes.io/name: matomo-multiscale
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: operator or node-doctor. */}}
{{- define "mms.selector" -}}
app.kubernetes.io/name: matomo-multiscale
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The control-plane image: by digest when one is given. */}}
{{- define "mms.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* The pod and container security context every platform pod runs with (Pod Security "restricted"). */}}
{{- define "mms.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "mms.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/*
The platform lives in one namespace, which the code names (mms-system): tenant Secrets, pool credentials,
backup Jobs and leases are looked up there.
*/}}
{{- define "mms.checkNamespace" -}}
{{- if ne .Release.Namespace "mms-system" -}}
{{- fail (printf "install this chart into the namespace mms-system (helm install … --namespace mms-system --create-namespace), not %q: the operator, the backup Jobs and the CLI look for the platform's objects there" .Release.Namespace) -}}
{{- end -}}
{{- end -}}
