// Pinned versions of every program the dev environment builds, and how to build each one from
// the Go module proxy. Changing a version or a recipe changes the cache key, so the next
// `mms dev up` rebuilds that component and nothing else.

export interface GoBuildRecipe {
  /** Name shown to people and used as the cache folder, with the version. */
  readonly name: string;
  readonly version: string;
  /** Bumped when the recipe (flags, packages) changes for the same version. */
  readonly recipe: number;
  /** The `go` directive of the generated wrapper module. */
  readonly goDirective: string;
  readonly require: Readonly<Record<string, string>>;
  readonly replace: Readonly<Record<string, string>>;
  /** Main packages to build; the binary is named after the last path element. */
  readonly packages: readonly string[];
  readonly ldflags: string;
  /** Build tags (e.g. to leave out parts that need cgo, which these builds do without). */
  readonly tags?: readonly string[];
}

export const KUBERNETES_VERSION = "1.34.4";
export const ETCD_VERSION = "3.6.16";
export const KWOK_VERSION = "0.7.0";
/** Kubernetes 1.34 asks for containerd 2.1.3 or newer (Debian bookworm has 1.6.20). */
export const CONTAINERD_VERSION = "2.2.9";
export const COREDNS_VERSION = "1.14.7";
export const CRICTL_VERSION = "1.34.0";
/**
 * kube-router's network policy controller enforces NetworkPolicies on the real node. v2.1.0 is the one
 * version of its v2 module the Go module proxy serves.
 */
export const KUBE_ROUTER_VERSION = "2.1.0";
/** Helm 4: the platform's chart is installed with it (Helm 3's security fixes end in February 2027). */
export const HELM_VERSION = "4.3.2";
/**
 * SeaweedFS's Go module has no semver tags (its releases are tagged 3.x/4.x without a /vN module
 * path); this is the module proxy's pseudo-version of a 2026-11 commit of its master branch.
 */
export const SEAWEEDFS_VERSION = "0.0.0-20261109003541-7506e5f91cd6";
/** Let's Encrypt's test ACME server, the dev environment's stand-in for Let's Encrypt. */
export const PEBBLE_VERSION = "2.10.3";
/** The ingress controller on real nodes (v3.7 does not build with this machine's toolchain). */
export const TRAEFIK_VERSION = "3.6.12";
/**
 * OpenTofu (MPL-2.0) runs the Terraform checks of deploy/terraform (test/terraform.test.ts); Terraform
 * itself is used too when it is on PATH, never installed (BUSL).
 */
export const OPENTOFU_VERSION = "1.12.6";
/**
 * Prometheus 3.16.0, whose Go module is tagged v0.316.0 (`prometheus` and `promtool` from one recipe);
 * Alertmanager, blackbox_exporter and kube-state-metrics: the dev environment's monitoring stack.
 */
export const PROMETHEUS_VERSION = "3.16.0";
export const ALERTMANAGER_VERSION = "0.31.1";
export const BLACKBOX_EXPORTER_VERSION = "0.28.0";
export const KUBE_STATE_METRICS_VERSION = "2.18.0";
/**
 * The log pipeline's OpenTelemetry Collector (deploy/observability/otel), assembled by the collector's
 * builder (ocb) from the components otelcol.ts lists: v0.x for the builder and the components, v1.x for
 * the stable modules released with them (the confmap providers).
 */
export const OTELCOL_VERSION = "0.160.0";
export const OTELCOL_STABLE_VERSION = "1.66.0";

// k8s.io/kubernetes points its staging modules at local folders; a wrapper module must point
// them at the published copies, which carry the same code as v0.<minor>.<patch>.
const KUBERNETES_STAGING = [
  "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
  "cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
  "controller-manager", "cri-api", "cri-client", "csi-translation-lib", "dynamic-resource-allocation",
  "endpointslice", "externaljwt", "kms", "kube-aggregator", "kube-controller-manager", "kube-proxy",
  "kube-scheduler", "kubectl", "kubelet", "metrics", "mount-utils", "pod-security-admission",
];

/** The control plane (`kubernetes`) and, for real nodes, the node's programs (`kubernetes-node`). */
function kubernetesRecipe(version: string, name: "kubernetes" | "kubernetes-node", commands: readonly string[]): GoBuildRecipe {
  const [major, minor] = version.split(".");
  const staging = `v0.${version.split(".").slice(1).join(".")}`;
  const pkg = "k8s.io/component-base/version";
  return {
    name,
    version,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "k8s.io/kubernetes": `v${version}` },
    replace: Object.fromEntries(KUBERNETES_STAGING.map((m) => [`k8s.io/${m}`, `k8s.io/${m} ${staging}`])),
    packages: commands.map((c) => `k8s.io/kubernetes/cmd/${c}`),
    ldflags: [
      "-s -w",
      `-X ${pkg}.gitVersion=v${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ].join(" "),
  };
}

/** The version ldflags of the Prometheus projects' release builds (their .promu.yml). */
function promuLdflags(version: string): string {
  return `-s -w -X github.com/prometheus/common/version.Version=${version}`;
}

export const BUILDS = {
  kubernetes: kubernetesRecipe(KUBERNETES_VERSION, "kubernetes", ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]),
  kubernetesNode: kubernetesRecipe(KUBERNETES_VERSION, "kubernetes-node", ["kubelet", "kube-proxy"]),
  containerd: {
    name: "containerd",
    version: CONTAINERD_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "github.com/containerd/containerd/v2": `v${CONTAINERD_VERSION}` },
    replace: {},
    packages: [
      "github.com/containerd/containerd/v2/cmd/containerd",
      "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
      "github.com/containerd/containerd/v2/cmd/ctr",
    ],
    // Without cgo: no btrfs snapshotter (overlayfs is the one used).
    tags: ["no_btrfs"],
    ldflags: `-s -w -X github.com/containerd/containerd/v2/version.Version=v${CONTAINERD_VERSION}`,
  },
  coredns: {
    name: "coredns",
    version: COREDNS_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "github.com/coredns/coredns": `v${COREDNS_VERSION}` },
    replace: {},
    packages: ["github.com/coredns/coredns"],
    ldflags: "-s -w",
  },
  crictl: {
    name: "crictl",
    version: CRICTL_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "sigs.k8s.io/cri-tools": `v${CRICTL_VERSION}` },
    replace: {},
    packages: ["sigs.k8s.io/cri-tools/cmd/crictl"],
    ldflags: `-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v${CRICTL_VERSION}`,
  },
  kubeRouter: {
    name: "kube-router",
    version: KUBE_ROUTER_VERSION,
    recipe: 1,
    // x/net v0.62.0 asks for Go 1.26.
    goDirective: "1.26.0",
    require: {
      "github.com/cloudnativelabs/kube-router/v2": `v${KUBE_ROUTER_VERSION}`,
      // Raised above what v2.1.0 pins, for the advisories against those versions (docs/dev-environment.md).
      "golang.org/x/net": "v0.62.0",
      "golang.org/x/oauth2": "v0.38.0",
      "google.golang.org/protobuf": "v1.36.12",
      "google.golang.org/grpc": "v1.62.1",
      "github.com/docker/docker": "v25.0.6+incompatible",
    },
    replace: {},
    packages: ["github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"],
    ldflags: `-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v${KUBE_ROUTER_VERSION}`,
  },
  etcd: {
    name: "etcd",
    version: ETCD_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "go.etcd.io/etcd/server/v3": `v${ETCD_VERSION}` },
    // etcd's server module points its sibling modules at local folders too.
    replace: Object.fromEntries(
      ["api/v3", "client/pkg/v3", "client/v3", "pkg/v3"].map((m) => [
        `go.etcd.io/etcd/${m}`,
        `go.etcd.io/etcd/${m} v${ETCD_VERSION}`,
      ]),
    ),
    packages: ["go.etcd.io/etcd/server/v3"],
    ldflags: "-s -w",
  },
  kwok: {
    name: "kwok",
    version: KWOK_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "sigs.k8s.io/kwok": `v${KWOK_VERSION}` },
    replace: {},
    packages: ["sigs.k8s.io/kwok/cmd/kwok"],
    ldflags: `-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v${KWOK_VERSION}`,
  },
  helm: {
    name: "helm",
    version: HELM_VERSION,
    recipe: 1,
    goDirective: "1.25.0",
    require: { "helm.sh/helm/v4": `v${HELM_VERSION}` },
    replace: {},
    packages: ["helm.sh/helm/v4/cmd/helm"],
    ldflags: `-s -w -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION} -X helm.sh/helm/v4/internal/version.gitTreeState=clean`,
  },
  pebble: {
    name: "pebble",
    version: PEBBLE_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "github.com/letsencrypt/pebble/v2": `v${PEBBLE_VERSION}` },
    replace: {},
    packages: ["github.com/letsencrypt/pebble/v2/cmd/pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"],
    // As Pebble's release workflow sets it (pebble -version).
    ldflags: `-s -w -X main.version=v${PEBBLE_VERSION}`,
  },
  traefik: {
    name: "traefik",
    version: TRAEFIK_VERSION,
    recipe: 1,
    goDirective: "1.25.0",
    require: { "github.com/traefik/traefik/v3": `v${TRAEFIK_VERSION}` },
    // A dependency's replace directives are ignored: the wrapper repeats Traefik's three forks.
    replace: {
      "github.com/abbot/go-http-auth": "github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e",
      "github.com/gorilla/mux": "github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59",
      "github.com/mailgun/minheap": "github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595",
    },
    packages: ["github.com/traefik/traefik/v3/cmd/traefik"],
    // As Traefik's release build sets them (its Makefile and release workflow: codename ramequin for 3.6).
    ldflags: `-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=v${TRAEFIK_VERSION} -X github.com/traefik/traefik/v3/pkg/version.Codename=ramequin`,
  },
  seaweedfs: {
    name: "seaweedfs",
    version: SEAWEEDFS_VERSION,
    recipe: 1,
    // SeaweedFS's own go.mod asks for Go 1.26.6.
    goDirective: "1.26.6",
    require: { "github.com/seaweedfs/seaweedfs": `v${SEAWEEDFS_VERSION}` },
    // A dependency's replace directives are ignored, so the wrapper repeats SeaweedFS's one.
    replace: { "github.com/tyler-smith/go-bip39": "github.com/cosmos/go-bip39 v1.0.0" },
    packages: ["github.com/seaweedfs/seaweedfs/weed"],
    ldflags: "-s -w",
  },
  opentofu: {
    name: "opentofu",
    version: OPENTOFU_VERSION,
    recipe: 1,
    // OpenTofu's own go.mod asks for Go 1.26.6.
    goDirective: "1.26.6",
    require: { "github.com/opentofu/opentofu": `v${OPENTOFU_VERSION}` },
    // A dependency's replace directives are ignored, so the wrapper repeats OpenTofu's fork of HCL.
    replace: { "github.com/hashicorp/hcl/v2": "github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828" },
    packages: ["github.com/opentofu/opentofu/cmd/tofu"],
    // As OpenTofu's release build sets it (.goreleaser.yaml): without it, `tofu version` says 1.12.6-dev.
    ldflags: "-s -w -X github.com/opentofu/opentofu/version.dev=no",
  },
  prometheus: {
    name: "prometheus",
    version: PROMETHEUS_VERSION,
    recipe: 1,
    // Prometheus's own go.mod asks for Go 1.26.7.
    goDirective: "1.26.7",
    // Prometheus 3.16.0 is the module's v0.316.0.
    require: { "github.com/prometheus/prometheus": "v0.316.0" },
    replace: {},
    packages: ["github.com/prometheus/prometheus/cmd/prometheus", "github.com/prometheus/prometheus/cmd/promtool"],
    // Kubernetes, file and HTTP service discovery only (the cloud ones pull in minutes of SDKs); no
    // `builtinassets`: the module has no compiled web UI, and the HTTP API is all the platform uses.
    tags: ["remove_all_sd", "enable_kubernetes_sd"],
    ldflags: promuLdflags(PROMETHEUS_VERSION),
  },
  alertmanager: {
    name: "alertmanager",
    version: ALERTMANAGER_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "github.com/prometheus/alertmanager": `v${ALERTMANAGER_VERSION}` },
    replace: {},
    packages: ["github.com/prometheus/alertmanager/cmd/alertmanager"],
    ldflags: promuLdflags(ALERTMANAGER_VERSION),
  },
  blackboxExporter: {
    name: "blackbox-exporter",
    version: BLACKBOX_EXPORTER_VERSION,
    recipe: 1,
    goDirective: "1.24.0",
    require: { "github.com/prometheus/blackbox_exporter": `v${BLACKBOX_EXPORTER_VERSION}` },
    replace: {},
    packages: ["github.com/prometheus/blackbox_exporter"],
    ldflags: promuLdflags(BLACKBOX_EXPORTER_VERSION),
  },
  kubeStateMetrics: {
    name: "kube-state-metrics",
    version: KUBE_STATE_METRICS_VERSION,
    recipe: 1,
    goDirective: "1.24.5",
    require: { "k8s.io/kube-state-metrics/v2": `v${KUBE_STATE_METRICS_VERSION}` },
    replace: {},
    packages: ["k8s.io/kube-state-metrics/v2"],
    // As its Makefile sets them (client-go: the version its go.mod requires).
    ldflags: `${promuLdflags(`v${KUBE_STATE_METRICS_VERSION}`)} -X k8s.io/kube-state-metrics/v2/pkg/app.ClientGoVersion=v0.34.3`,
  },
  // The collector's builder; otelcol.ts runs it on a manifest of its own to build the collector.
  ocb: {
    name: "ocb",
    version: OTELCOL_VERSION,
    recipe: 1,
    goDirective: "1.26.0",
    require: { "go.opentelemetry.io/collector/cmd/builder": `v${OTELCOL_VERSION}` },
    replace: {},
    packages: ["go.opentelemetry.io/collector/cmd/builder"],
    ldflags: "-s -w",
  },
} as const satisfies Record<string, GoBuildRecipe>;

export type BuildName = keyof typeof BUILDS;

/**
 * Binary file name of a main package: the last path element, `etcd` for etcd's server module and
 * `kube-state-metrics` for its module's /v2 root.
 */
export function binaryName(pkg: string): string {
  if (pkg === "go.etcd.io/etcd/server/v3") return "etcd";
  if (pkg === "k8s.io/kube-state-metrics/v2") return "kube-state-metrics";
  return pkg.split("/").at(-1) ?? pkg;
}

export function cacheKey(r: GoBuildRecipe): string {
  return `${r.name}-v${r.version}-r${r.recipe}`;
}
