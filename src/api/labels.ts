// The labels and owner references of everything mms creates, built in one place so that the operator's
// selectors, `kubectl get -l` and the garbage collector find exactly what the renderers and commands made.
import type { V1OwnerReference } from "@kubernetes/client-node";
import { API_GROUP_VERSION } from "./names.ts";

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "mms";
export const TENANT_LABEL = "multiscale.io/tenant";
export const POOL_LABEL = "multiscale.io/pool";
export const COMPONENT_LABEL = "app.kubernetes.io/component";

/** Selects everything mms manages. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export type Labels = Record<string, string>;

/** `app.kubernetes.io/managed-by: mms` and `extra`. */
export function managedLabels(extra: Labels = {}): Labels {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, ...extra };
}

/** What mms manages for one tenant: managed-by, `multiscale.io/tenant` and `extra`. */
export function tenantLabels(tenant: string, extra: Labels = {}): Labels {
  return managedLabels({ [TENANT_LABEL]: tenant, ...extra });
}

/**
 * The owner reference that hands an object to the garbage collector with its tenant or pool. With
 * `blockOwnerDeletion` (the default), deleting the owner in the foreground waits for the object.
 */
export function ownerReference(
  kind: "MatomoTenant" | "DatabasePool", owner: { readonly metadata: { readonly name: string; readonly uid?: string | undefined } },
  opts: { readonly blockOwnerDeletion?: boolean } = {},
): V1OwnerReference {
  return {
    apiVersion: API_GROUP_VERSION, kind, name: owner.metadata.name, uid: owner.metadata.uid ?? "",
    controller: true, blockOwnerDeletion: opts.blockOwnerDeletion ?? true,
  };
}
