{{/* Names and labels of the ingress controller (Traefik), which lives in a namespace of its own. */}}

{{- define "mms.ingress.labels" -}}
app.kubernetes.io/name: traefik
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ingress-controller
app.kubernetes.io/part-of: matomo-multiscale
app.kubernetes.io/version: {{ .Values.ingressController.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mms.ingress.selector" -}}
app.kubernetes.io/name: traefik
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Traefik image: by digest when one is given. */}}
{{- define "mms.ingress.image" -}}
{{- $i := .Values.ingressController.image -}}
{{- if $i.digest -}}
{{ $i.repository }}@{{ $i.digest }}
{{- else -}}
{{ $i.repository }}:{{ $i.tag }}
{{- end -}}
{{- end -}}

{{/* Settings that cannot work together fail the install with one sentence. */}}
{{- define "mms.ingress.check" -}}
{{- $ic := .Values.ingressController -}}
{{- if ne $ic.namespace .Values.tenants.ingress.namespace -}}
{{- fail (printf "ingressController.namespace (%q) must equal tenants.ingress.namespace (%q): the tenants' NetworkPolicies let only that namespace's pods reach tracker and web" $ic.namespace .Values.tenants.ingress.namespace) -}}
{{- end -}}
{{- if and $ic.acme.enabled (gt (int $ic.replicas) 1) -}}
{{- fail "ingressController.acme.enabled needs ingressController.replicas: 1: Traefik's ACME store (acme.json) belongs to one pod and is not shared, so each replica would issue and serve certificates of its own; use cert-manager (tenants.tls.mode cert-manager) for more replicas" -}}
{{- end -}}
{{- end -}}
