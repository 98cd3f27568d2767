{{/* Names, labels and shared pieces of the monitoring stack (monitoring.stack). */}}

{{/* Labels of one component's objects: the chart's labels and app.kubernetes.io/component. */}}
{{- define "mms.stack.labels" -}}
{{ include "mms.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
The labels NetworkPolicies admit a component's pods by: name and component, without the release, as the
tenants' policies name the prober (src/render/tenant.ts PROBER_POD_LABELS).
*/}}
{{- define "mms.stack.podLabels" -}}
app.kubernetes.io/name: matomo-multiscale
app.kubernetes.io/component: {{ . }}
{{- end -}}

{{/* An image of the stack (repository, tag, digest): by digest when one is given. */}}
{{- define "mms.stack.image" -}}
{{- if .digest -}}
{{ .repository }}@{{ .digest }}
{{- else -}}
{{ .repository }}:{{ .tag }}
{{- end -}}
{{- end -}}

{{/* Where the stack's pods run, and the restricted security context they all share. */}}
{{- define "mms.stack.podSpec" -}}
{{- $s := .Values.monitoring.stack -}}
securityContext:
  {{- include "mms.podSecurityContext" . | nindent 2 }}
{{- with $s.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $s.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The in-cluster address of a component's Service: <release>-<component>.<namespace>.svc:<port>. */}}
{{- define "mms.stack.address" -}}
{{ .root.Release.Name }}-{{ .component }}.{{ .root.Release.Namespace }}.svc:{{ .port }}
{{- end -}}

{{/*
A scrape job of pods found through the API: those of `namespace` with the labels `selector` (a
comma-separated label selector), on their container port named `port`; the pod's name becomes `instance`.
`relabel`: the platform's metric relabelling of this job (a list), or nothing.
*/}}
{{- define "mms.stack.podJob" -}}
- job_name: {{ .job }}
  kubernetes_sd_configs:
    - role: pod
      namespaces:
        names: [{{ .namespace | quote }}]
      selectors:
        - role: pod
          label: {{ .selector | quote }}
  relabel_configs:
    - source_labels: [__meta_kubernetes_pod_container_port_name]
      regex: {{ .port }}
      action: keep
    - source_labels: [__meta_kubernetes_pod_phase]
      regex: Pending|Succeeded|Failed
      action: drop
    - source_labels: [__meta_kubernetes_pod_name]
      target_label: instance
  {{- with .relabel }}
  metric_relabel_configs:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
