// How KWOK plays the simulated nodes' kubelets: which nodes it manages, the node stages it plays
// (start, heartbeat, and a NotReady kubelet), so a failure injected on a node stays until it is undone,
// and its pod stages, which leave the pods of the local Job runner (src/devcluster/local-jobs.ts) alone.
import { RUN_LOCALLY_LABEL } from "../render/backup-jobs.ts";

/**
 * KWOK acts as the kubelet of every node whose label has the value "running". It is a label, not an
 * annotation, on purpose: the API server applies label selectors to KWOK's watch, so a node whose label
 * changes leaves the watch with a DELETED event, and KWOK stops renewing its Lease and drops its
 * pending status updates at once. (KWOK filters annotation selectors itself, after the watch: a node it
 * already knew kept its Lease renewed, and a queued heartbeat could overwrite an injected failure.)
 */
export const KUBELET_LABEL = "mms.dev/sim-kubelet";
export type SimKubelet = "running" | "stopped";
export const KWOK_NODE_SELECTOR = `${KUBELET_LABEL}=running`;

/** Set to "not-ready" while the kubelet runs: it keeps its Lease renewed but reports Ready=False. */
export const CONDITION_LABEL = "mms.dev/sim-condition";
export const NOT_READY = "not-ready";

/** The status of a kubelet's Ready condition, read with jq by KWOK's stage selectors. */
const READY_STATUS = `'.status.conditions.[] | select( .type == "Ready" ) | .status'`;
const CONDITION = `'.metadata.labels["${CONDITION_LABEL}"]'`;

/** The node conditions a healthy kubelet posts, from KWOK's template function `NodeConditions`. */
const conditions = (fields: string) => `
      conditions:
      {{ range NodeConditions }}
      - type: {{ .type | Quote }}
        status: {{ .status | Quote }}
        reason: {{ .reason | Quote }}
        message: {{ .message | Quote }}
${fields}
      {{ end }}`;

/**
 * KWOK's node stages (its `--config`). They replace KWOK's built-in node stages, which would keep
 * posting Ready=True over a node we report NotReady. Pods keep KWOK's built-in stages.
 */
export function kwokNodeStages(): string {
  return `# Written by mms dev up (src/devcluster/kwok.ts): how KWOK plays the kubelet of each simulated node.
# A kubelet that starts (a new node, or one back from a reboot) posts Ready=True.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mms-node-start
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: ${CONDITION}
      operator: DoesNotExist
    - key: ${READY_STATUS}
      operator: NotIn
      values: ["True"]
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      addresses:
      {{ with .status.addresses }}
      {{ YAML . 1 }}
      {{ else }}
      - type: InternalIP
        address: {{ NodeIP | Quote }}
      - type: Hostname
        address: {{ .metadata.name | Quote }}
      {{ end }}${conditions(`        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}`)}
---
# A running kubelet posts its status now and then; its Lease (renewed by KWOK every 10 s) is the heartbeat
# the node lifecycle controller watches. The transition time is left as it is.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mms-node-heartbeat
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: ${CONDITION}
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ["Running"]
    - key: ${READY_STATUS}
      operator: In
      values: ["True"]
  delay:
    durationMilliseconds: 60000
    jitterDurationMilliseconds: 90000
  next:
    statusTemplate: |
      {{ $now := Now }}${conditions(`        lastHeartbeatTime: {{ $now | Quote }}`)}
  immediateNextStage: true
---
# mms node fail --mode not-ready: the kubelet runs (its Lease is renewed) but reports NotReady, as with a
# broken container runtime or network plugin, until the label goes away.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mms-node-not-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: ${CONDITION}
      operator: In
      values: ["${NOT_READY}"]
    - key: ${READY_STATUS}
      operator: NotIn
      values: ["False"]
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: Ready
        status: "False"
        reason: KubeletNotReady
        message: "container runtime is down (failure injected by mms node fail --mode not-ready)"
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
`;
}

/** Pods the local Job runner runs: KWOK must neither start nor complete them. */
const NOT_LOCAL = `
    - key: '.metadata.labels["${RUN_LOCALLY_LABEL}"]'
      operator: DoesNotExist`;

/**
 * KWOK's pod stages: its built-in ones (ready at once; a Job's pod completes at once; a deleted pod goes)
 * with one change: the first two skip pods labelled for the local Job runner, which moves them itself.
 * Given any pod stage, KWOK uses only the given ones, so all three are here.
 */
export function kwokPodStages(): string {
  return `# Written by mms dev up (src/devcluster/kwok.ts): how KWOK plays the pods of simulated nodes.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mms-pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.podIP'
      operator: DoesNotExist${NOT_LOCAL}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mms-pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ["Running"]
    - key: '.metadata.ownerReferences.[].kind'
      operator: In
      values: ["Job"]${NOT_LOCAL}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mms-pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    finalizers:
      empty: true
    delete: true
`;
}

/** KWOK's whole stage configuration (its --config file). */
export function kwokStages(): string {
  return `${kwokNodeStages()}---\n${kwokPodStages()}`;
}
