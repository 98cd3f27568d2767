// NodeRemediation: the audit record of one node recovery, created by the node doctor, with a
// timestamp for every phase so an operator can see what was done, when and why.
import { z } from "zod";

export const REMEDIATION_PHASES = ["Cordon", "SoftReboot", "HardReboot", "Replace", "AwaitReady", "Succeeded", "Failed"] as const;

export const RemediationSpec = z.object({
  nodeName: z.string().max(253),
  pool: z.string().max(253),
  reason: z.string().max(1024).meta({ description: "Why the node was found unhealthy." }),
  detectedAt: z.string(),
});
export type RemediationSpec = z.output<typeof RemediationSpec>;

export const RemediationStatus = z.object({
  phase: z.enum(REMEDIATION_PHASES).optional(),
  phaseStartedAt: z.string().optional(),
  awaiting: z.enum(["SoftReboot", "HardReboot", "Replace"]).optional(),
  fenced: z.boolean().optional(),
  instanceId: z.string().optional(),
  history: z.array(z.object({ phase: z.string(), at: z.string(), message: z.string().max(1024) })).max(50).optional(),
  outcome: z.enum(["Succeeded", "Failed"]).optional(),
  endedAt: z.string().optional(),
  message: z.string().max(1024).optional(),
});
export type RemediationStatus = z.output<typeof RemediationStatus>;

export interface NodeRemediation {
  apiVersion: string;
  kind: "NodeRemediation";
  metadata: { name: string; creationTimestamp?: string; resourceVersion?: string };
  spec: RemediationSpec;
  status?: RemediationStatus;
}
