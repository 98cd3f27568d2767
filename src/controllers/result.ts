// What one reconcile of a tenant tells the work queue.
import type { UpgradeResult } from "./fleet.ts";

export interface ReconcileResult {
  /** Ask to be called again after this many milliseconds (progress to watch, or a dependency down). */
  readonly requeueAfterMs?: number;
  /** Set on the reconcile that saw the tenant Ready for the first time. */
  readonly onboardedSeconds?: number;
  /** Set on the reconcile that recorded the end of a Matomo upgrade (mms_tenant_upgrade_seconds). */
  readonly upgradeEnded?: { readonly result: UpgradeResult; readonly seconds: number };
}
