// Status conditions with Kubernetes semantics: lastTransitionTime moves only when status changes.
import type { Condition } from "./tenant.ts";

export function setCondition(
  conditions: Condition[],
  type: string,
  status: Condition["status"],
  reason: string,
  message: string,
  generation: number | undefined,
  now: string,
): Condition[] {
  const old = conditions.find((c) => c.type === type);
  const next: Condition = {
    type, status, reason, message,
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...conditions.filter((c) => c.type !== type), next].sort((a, b) => order(a.type) - order(b.type));
}

const ORDER = ["DatabaseReady", "ConfigReady", "WorkloadsReady", "MatomoAnswering", "CertificateReady", "Ready"];
const order = (t: string) => (ORDER.includes(t) ? ORDER.indexOf(t) : ORDER.length);

export function conditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return conditions?.some((c) => c.type === type && c.status === "True") ?? false;
}
