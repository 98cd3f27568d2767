// What one reconcile of a tenant tells the work queue.

export interface ReconcileResult {
  /** Ask to be called again after this many milliseconds (progress to watch, or a dependency down). */
  readonly requeueAfterMs?: number;
  /** Set on the reconcile that saw the tenant Ready for the first time. */
  readonly onboardedSeconds?: number;
}
