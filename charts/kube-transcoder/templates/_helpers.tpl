{{/*
Shared names, labels and security contexts of the kube-transcoder chart.
Every template includes these; nothing here renders an object by itself.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "kube-transcoder.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: fullnameOverride, else <release> or <release>-<chart>. */}}
{{- define "kube-transcoder.fullname" -}}
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

{{/* Component object names (max 63 characters). */}}
{{- define "kube-transcoder.operator.fullname" -}}
{{- printf "%s-operator" (include "kube-transcoder.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "kube-transcoder.redis.fullname" -}}
{{- printf "%s-redis" (include "kube-transcoder.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "kube-transcoder.gpuProbe.fullname" -}}
{{- printf "%s-gpu-probe" (include "kube-transcoder.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "kube-transcoder.runner.fullname" -}}
{{- printf "%s-runner" (include "kube-transcoder.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The operator's ServiceAccount: serviceAccount.name, else the operator's name (or default when not created). */}}
{{- define "kube-transcoder.operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube-transcoder.operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The runner Pods' ServiceAccount, the same name in every job namespace. */}}
{{- define "kube-transcoder.runner.serviceAccountName" -}}
{{- default (include "kube-transcoder.runner.fullname" .) .Values.runner.serviceAccount.name }}
{{- end }}

{{/* Namespaces where TranscodeJobs run (the runner's RBAC goes there): runner.namespaces, else the release namespace. */}}
{{- define "kube-transcoder.runner.namespaces" -}}
{{- $list := .Values.runner.namespaces | default (list .Release.Namespace) }}
{{- toJson (uniq $list) }}
{{- end }}

{{/* Redis URL handed to the operator, the runners and the GPU probes ("" without Redis). */}}
{{- define "kube-transcoder.redisUrl" -}}
{{- if .Values.redis.externalUrl }}
{{- .Values.redis.externalUrl }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc:%d/0" (include "kube-transcoder.redis.fullname" .) .Release.Namespace (int .Values.redis.service.port) }}
{{- end }}
{{- end }}

{{/* "true" when Redis logins are used: redis.auth.enabled with the bundled Redis, or with externalUrl and redis.auth.existingSecret. */}}
{{- define "kube-transcoder.redis.authEnabled" -}}
{{- if .Values.redis.auth.enabled }}
{{- if .Values.redis.externalUrl }}
{{- if .Values.redis.auth.existingSecret }}true{{ end }}
{{- else if .Values.redis.enabled }}true
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret with the Redis passwords (and users.acl): redis.auth.existingSecret, else <fullname>-redis-auth. */}}
{{- define "kube-transcoder.redis.authSecretName" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-redis-auth" (include "kube-transcoder.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{/* The Secret key of one ACL user's password; pass (dict "ctx" $ "user" "runner"). Users come from files/redis/acl.yaml. */}}
{{- define "kube-transcoder.redis.passwordKey" -}}
{{- $key := "" }}
{{- range (.ctx.Files.Get "files/redis/acl.yaml" | fromYaml).users }}
{{- if eq .name $.user }}{{ $key = .passwordKey }}{{ end }}
{{- end }}
{{- if not $key }}{{ fail (printf "no Redis ACL user %s in files/redis/acl.yaml: run charts/kube-transcoder/hack/sync.py" .user) }}{{ end }}
{{- $key }}
{{- end }}

{{/*
The data of the Redis auth Secret the chart creates, as YAML (base64 values): one password per
ACL user of files/redis/acl.yaml, taken from the Secret of an earlier release when it has one
(`lookup`), else 32 random characters; and users.acl with the default user off and each user's
password as its SHA-256 (the same file transcode_api.redisacl.render writes).
*/}}
{{- define "kube-transcoder.redis.authData" -}}
{{- $old := (lookup "v1" "Secret" .Release.Namespace (include "kube-transcoder.redis.authSecretName" .)).data | default dict }}
{{- $acl := .Files.Get "files/redis/acl.yaml" | fromYaml }}
{{- $lines := list $acl.default }}
{{- $data := dict }}
{{- range $acl.users }}
{{- $pw := randAlphaNum 32 }}
{{- if hasKey $old .passwordKey }}
{{- $pw = index $old .passwordKey | b64dec }}
{{- end }}
{{- $_ := set $data .passwordKey ($pw | b64enc) }}
{{- $lines = append $lines (printf "user %s on #%s %s" .name (sha256sum $pw) .rules) }}
{{- end }}
{{- $_ := set $data "users.acl" (printf "%s\n" (join "\n" $lines) | b64enc) }}
{{- toYaml $data }}
{{- end }}

{{/* chart label value: <name>-<version>. */}}
{{- define "kube-transcoder.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object; pass (dict "ctx" $ "component" "operator"). */}}
{{- define "kube-transcoder.labels" -}}
helm.sh/chart: {{ include "kube-transcoder.chart" .ctx }}
{{ include "kube-transcoder.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: kube-transcoder
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels (immutable on Deployments and DaemonSets); pass (dict "ctx" $ "component" "operator"). */}}
{{- define "kube-transcoder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-transcoder.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* image reference: pass (dict "image" .Values.operator.image "ctx" $); tag defaults to appVersion, digest wins. */}}
{{- define "kube-transcoder.image" -}}
{{- $repo := .image.repository }}
{{- if .image.registry }}
{{- $repo = printf "%s/%s" .image.registry .image.repository }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion .image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The rules of the `kind` object in a multi-document file copied into files/ by hack/sync.py
(deploy/rbac/*.yaml, generated from operator/src/transcode_operator/app/rbac.py).
Pass (dict "ctx" $ "file" "files/rbac/operator.yaml" "kind" "ClusterRole").
*/}}
{{- define "kube-transcoder.rbacRules" -}}
{{- $rules := list }}
{{- range regexSplit "(?m)^---\\s*$" (.ctx.Files.Get .file) -1 }}
{{- $doc := fromYaml . }}
{{- if and $doc (eq (get $doc "kind") $.kind) }}
{{- $rules = $doc.rules }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail (printf "no %s with rules in %s: run charts/kube-transcoder/hack/sync.py" .kind .file) }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
