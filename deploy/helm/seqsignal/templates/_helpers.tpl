{{/* Names and labels. */}}
{{- define "seqsignal.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "seqsignal.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "seqsignal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "seqsignal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "seqsignal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seqsignal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "seqsignal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "seqsignal.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "seqsignal.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "seqsignal.fullname" .) -}}
{{- else -}}
{{- .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "seqsignal.registryClaim" -}}
{{- default (printf "%s-registry" (include "seqsignal.fullname" .)) .Values.registry.existingClaim -}}
{{- end -}}

{{- define "seqsignal.sasl" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "seqsignal.tls" -}}
{{- if or (eq .Values.kafka.securityProtocol "SSL") (eq .Values.kafka.securityProtocol "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{- define "seqsignal.image" -}}
{{- $tag := ternary .Values.image.gpuTag .Values.image.tag .gpu -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{/*
Checks that fail the render: the replicas never exceed the input topics' partitions, the registry volume can
be shared across nodes, the drain has time, and SASL has its Secret.
*/}}
{{- define "seqsignal.validate" -}}
{{- $partitions := int .Values.kafka.partitions -}}
{{- if lt $partitions 1 -}}
{{- fail "kafka.partitions must be >= 1 (the input topics' partition count)" -}}
{{- end -}}
{{- if gt (int .Values.worker.replicas) $partitions -}}
{{- fail (printf "worker.replicas (%d) exceeds kafka.partitions (%d): extra consumers of the group would sit idle" (int .Values.worker.replicas) $partitions) -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- if gt (int .Values.autoscaling.maxReplicaCount) $partitions -}}
{{- fail (printf "autoscaling.maxReplicaCount (%d) exceeds kafka.partitions (%d): replicas must never outnumber the input topics' partitions" (int .Values.autoscaling.maxReplicaCount) $partitions) -}}
{{- end -}}
{{- if gt (int .Values.autoscaling.minReplicaCount) (int .Values.autoscaling.maxReplicaCount) -}}
{{- fail "autoscaling.minReplicaCount exceeds autoscaling.maxReplicaCount" -}}
{{- end -}}
{{- if lt (int .Values.autoscaling.minReplicaCount) 1 -}}
{{- fail "autoscaling.minReplicaCount must be >= 1 (model-update announcements and readiness need a running worker)" -}}
{{- end -}}
{{- if not .Values.autoscaling.topics -}}
{{- fail "autoscaling.topics must name the input topics" -}}
{{- end -}}
{{- end -}}
{{- if lt (int .Values.worker.terminationGracePeriodSeconds) 15 -}}
{{- fail "worker.terminationGracePeriodSeconds must be >= 15: SIGTERM drains the in-flight batch and commits (about 5 s)" -}}
{{- end -}}
{{- if and (not .Values.registry.existingClaim) (not (has "ReadWriteMany" .Values.registry.accessModes)) -}}
{{- fail "registry.accessModes must include ReadWriteMany: workers on several nodes and the trainer share one registry volume" -}}
{{- end -}}
{{- if and (include "seqsignal.sasl" .) (not .Values.kafka.saslMechanism) -}}
{{- fail "kafka.saslMechanism is required with a SASL securityProtocol (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" -}}
{{- end -}}
{{- if and (not .Values.secrets.create) (not .Values.secrets.existingSecret) (or (include "seqsignal.sasl" .) .Values.redis.auth .Values.privacy.pseudonymize) -}}
{{- fail "secrets.existingSecret (or secrets.create) is required: SASL, Redis auth and pseudonymisation read their secrets from it" -}}
{{- end -}}
{{- end -}}

{{/* Non-secret settings shared by every pod (rendered into the ConfigMap). */}}
{{- define "seqsignal.settings" -}}
SEQSIGNAL_WORKER_ID: {{ .Values.workerId | quote }}
SEQSIGNAL_LOG_LEVEL: {{ .Values.logLevel | quote }}
SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS: {{ .Values.kafka.bootstrapServers | quote }}
SEQSIGNAL_KAFKA__SECURITY_PROTOCOL: {{ .Values.kafka.securityProtocol | quote }}
{{- if .Values.kafka.saslMechanism }}
SEQSIGNAL_KAFKA__SASL_MECHANISM: {{ .Values.kafka.saslMechanism | quote }}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
SEQSIGNAL_KAFKA__SSL_CAFILE: "/etc/seqsignal/kafka-tls/ca.crt"
{{- end }}
SEQSIGNAL_KAFKA__TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
SEQSIGNAL_KAFKA__PARTITIONS: {{ .Values.kafka.partitions | quote }}
SEQSIGNAL_KAFKA__REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
SEQSIGNAL_REDIS__URL: {{ .Values.redis.url | quote }}
SEQSIGNAL_REDIS__CLUSTER: {{ .Values.redis.cluster | quote }}
SEQSIGNAL_MODEL__REGISTRY_DIR: {{ .Values.registry.mountPath | quote }}
SEQSIGNAL_MODEL__BEHAVIOR_HORIZON: {{ .Values.model.behaviorHorizon | quote }}
SEQSIGNAL_PRIVACY__PSEUDONYMIZE: {{ .Values.privacy.pseudonymize | quote }}
SEQSIGNAL_DATA_DIR: "/var/lib/seqsignal/data"
SEQSIGNAL_STACK_DIR: "/tmp/no-stack"
HOME: "/tmp"
XDG_CACHE_HOME: "/tmp/.cache"
MPLCONFIGDIR: "/tmp/matplotlib"
{{- range $k, $v := .Values.extraSettings }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* Secret env vars (secretKeyRef; never in the ConfigMap). */}}
{{- define "seqsignal.secretEnv" -}}
{{- $secret := include "seqsignal.secretName" . -}}
{{- if include "seqsignal.sasl" . }}
- name: SEQSIGNAL_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.kafkaSaslUsername }}}
- name: SEQSIGNAL_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.kafkaSaslPassword }}}
{{- end }}
{{- if .Values.redis.auth }}
- name: SEQSIGNAL_REDIS__PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.redisPassword }}}
{{- end }}
{{- if .Values.privacy.pseudonymize }}
- name: SEQSIGNAL_PRIVACY__HMAC_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.privacyHmacKey }}}
{{- end }}
{{- end -}}

{{/* Volume mounts every seqsignal container has: /tmp (read-only root fs), Kafka CA. */}}
{{- define "seqsignal.commonMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-tls
  mountPath: /etc/seqsignal/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "seqsignal.commonVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    items:
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- end -}}
