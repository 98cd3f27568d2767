// How KWOK plays the simulated nodes' kubelets: which nodes it manages, and the node stages it plays
// (start, heartbeat, and a NotReady kubelet), so a failure injected on a node stays until it is undone.

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
