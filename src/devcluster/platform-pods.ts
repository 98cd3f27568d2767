// The operator as a pod of the control-plane image on the real node, instead of a local process: the
// objects `mms dev manifests operator` prints. Leader election decides which of the two acts, so the pod
// can run beside the local operator and takes over when that one stops.
//
// Dev only: its ServiceAccount is bound to cluster-admin. The platform's chart (issue 13) grants the
// least privileges instead.
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import type { KubeObject } from "../kube/http.ts";
import { DEFAULT_PLATFORM } from "../render/tenant.ts";
import { operatorJobFlags, type DevTimings } from "./components.ts";
import { REAL_NODE_LABEL, REAL_NODE_TAINT } from "./real-node.ts";
import { KUBELET_LABEL } from "./kwok.ts";

export const OPERATOR_POD_NAME = "mms-operator";
const HEALTH_PORT = 8080;

export function operatorPodObjects(timings: DevTimings, image = DEFAULT_PLATFORM.controlImage): KubeObject[] {
  const labels = { "app.kubernetes.io/name": "mms", "app.kubernetes.io/component": "operator", "app.kubernetes.io/managed-by": "mms-dev" };
  const meta = { name: OPERATOR_POD_NAME, namespace: SYSTEM_NAMESPACE, labels };
  const probe = (path: string) => ({ httpGet: { path, port: HEALTH_PORT }, periodSeconds: 5, failureThreshold: 3 });
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta },
    {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: `${OPERATOR_POD_NAME}-dev`, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: OPERATOR_POD_NAME, namespace: SYSTEM_NAMESPACE }],
    },
    {
      apiVersion: "apps/v1", kind: "Deployment", metadata: meta,
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: OPERATOR_POD_NAME,
            nodeSelector: { [REAL_NODE_LABEL]: "true" },
            tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists", effect: REAL_NODE_TAINT.effect }],
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
            // It leaves the lease when stopped; no need for the default 30 s.
            terminationGracePeriodSeconds: 10,
            containers: [{
              name: "operator",
              image,
              imagePullPolicy: "IfNotPresent",
              args: [
                "operator", `--health-port=${HEALTH_PORT}`, "--health-address=0.0.0.0", "--no-install-api", `--simulated-node-label=${KUBELET_LABEL}`,
                ...operatorJobFlags({ realNodes: 1, timings }),
              ],
              env: [{ name: "NODE_OPTIONS", value: "--disable-warning=ExperimentalWarning --max-semi-space-size=2 --max-old-space-size=192" }],
              ports: [{ name: "health", containerPort: HEALTH_PORT }],
              livenessProbe: probe("/healthz"),
              // Ready means leading: a standby replica is running but not Ready.
              readinessProbe: probe("/readyz"),
              resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "320Mi" } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
            }],
            volumes: [{ name: "tmp", emptyDir: {} }],
          },
        },
      },
    },
  ];
}
