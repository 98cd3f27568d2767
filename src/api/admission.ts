// Checks that need other objects (the plan must exist, a domain may belong to one tenant only) run
// in the API server itself as a ValidatingAdmissionPolicy. CEL cannot list objects, so the operator
// keeps a registry ConfigMap of plan names and claimed domains that the policy reads as its params.
import { managedLabels } from "./labels.ts";
import { API_GROUP } from "./names.ts";

export const SYSTEM_NAMESPACE = "mms-system";
export const REGISTRY_NAME = "mms-admission-registry";
export const POLICY_NAME = "matomotenants.multiscale.io";
const DOMAIN_KEY_PREFIX = "domain.";

export interface RegistryInput {
  readonly plans: readonly string[];
  /** Tenants with their domains and creation time; the oldest claim on a domain wins. */
  readonly tenants: readonly { name: string; domains: readonly string[]; createdAt: string }[];
}

/** The registry's data: `plans` as a comma list, and one `domain.<domain>` key per claimed domain. */
export function registryData(input: RegistryInput): Record<string, string> {
  const data: Record<string, string> = { plans: [...input.plans].sort().join(",") };
  const byAge = [...input.tenants].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  for (const t of byAge) {
    for (const d of t.domains) data[`${DOMAIN_KEY_PREFIX}${d}`] ??= t.name;
  }
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
}

/** The tenant that owns a domain according to registry data, if any. */
export function domainOwner(data: Record<string, string>, domain: string): string | undefined {
  return data[`${DOMAIN_KEY_PREFIX}${domain}`];
}

/** Domains of a tenant that the registry gives to another (older) tenant. */
export function conflictingDomains(data: Record<string, string>, tenant: string, domains: readonly string[]): { domain: string; owner: string }[] {
  return domains.flatMap((domain) => {
    const owner = domainOwner(data, domain);
    return owner && owner !== tenant ? [{ domain, owner }] : [];
  });
}

export function registryConfigMap(data: Record<string, string>) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: REGISTRY_NAME, namespace: SYSTEM_NAMESPACE, labels: managedLabels() },
    data,
  };
}

const taken = `object.spec.domains.filter(d, ('${DOMAIN_KEY_PREFIX}' + d) in params.data && params.data['${DOMAIN_KEY_PREFIX}' + d] != object.metadata.name)`;

export function admissionPolicy() {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: POLICY_NAME, labels: managedLabels() },
    spec: {
      failurePolicy: "Fail",
      paramKind: { apiVersion: "v1", kind: "ConfigMap" },
      matchConstraints: {
        resourceRules: [{ apiGroups: [API_GROUP], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["matomotenants"] }],
      },
      validations: [
        {
          expression: "object.spec.plan in params.data['plans'].split(',')",
          messageExpression: "'spec.plan: unknown plan \"' + object.spec.plan + '\"; known plans: ' + params.data['plans'].split(',').join(', ')",
          reason: "Invalid",
        },
        {
          expression: `size(${taken}) == 0`,
          messageExpression: `'spec.domains: ' + ${taken}[0] + ' is already used by tenant ' + params.data['${DOMAIN_KEY_PREFIX}' + ${taken}[0]]`,
          reason: "Invalid",
        },
      ],
    },
  };
}

export function admissionPolicyBinding() {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: POLICY_NAME, labels: managedLabels() },
    spec: {
      policyName: POLICY_NAME,
      validationActions: ["Deny"],
      paramRef: { name: REGISTRY_NAME, namespace: SYSTEM_NAMESPACE, parameterNotFoundAction: "Deny" },
    },
  };
}
