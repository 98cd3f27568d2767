// DatabasePool: a MariaDB/MySQL server the platform may place tenants on.
import { z } from "zod";
import { DEFAULT_BACKUP_STORE } from "./backup-store.ts";
import { DNS_LABEL_PATTERN } from "./names.ts";
import { cron } from "./plan.ts";

const host = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, "must be a host name or IP address");

export const PoolSpec = z.object({
  host,
  port: z.int().min(1).max(65535).default(3306),
  adminSecretRef: z.object({
    namespace: z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN)),
    name: z.string().max(253),
    usernameKey: z.string().max(253).default("username"),
    passwordKey: z.string().max(253).default("password"),
  }).meta({ description: "Secret holding an account that may create databases and users." }),
  capacity: z.int().min(0).max(100000).default(200).meta({ description: "How many tenants this pool may hold." }),
  reader: z.object({ host, port: z.int().min(1).max(65535).default(3306) }).optional()
    .meta({ description: "Read replica endpoint; the web (query) side reads from it." }),
  queue: z.object({
    redis: z.object({
      host,
      port: z.int().min(1).max(65535).default(6379),
      databases: z.int().min(2).max(100000).default(16)
        .meta({ description: "How many Redis databases the server has (its `databases` setting); each queued tenant of the pool gets one of 1..databases-1." }),
      passwordSecretRef: z.object({
        namespace: z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN)),
        name: z.string().max(253),
        key: z.string().max(253).default("password"),
      }).optional().meta({ description: "Secret holding the Redis password (AUTH), when the server asks for one." }),
    }),
  }).optional().meta({ description: "Where tenants of this pool with spec.tracking.queuedTracking queue their tracking requests: a Redis server, a database number per tenant." }),
  backup: z.object({
    store: z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN)).default(DEFAULT_BACKUP_STORE)
      .meta({ description: "BackupStore the backups of this pool's tenants go to." }),
    verifySchedule: cron.default("H 3 * * *")
      .meta({ description: "When the nightly restore drill runs over every tenant of the pool in turn (H: a per-pool value)." }),
  }).default({ store: DEFAULT_BACKUP_STORE, verifySchedule: "H 3 * * *" }),
});
export type PoolSpec = z.output<typeof PoolSpec>;

export const PoolStatus = z.object({
  tenants: z.int().optional(),
  reachable: z.boolean().optional(),
  message: z.string().optional(),
  lastChecked: z.string().optional(),
});

export interface DatabasePool {
  apiVersion: string;
  kind: "DatabasePool";
  metadata: { name: string };
  spec: PoolSpec;
  status?: z.output<typeof PoolStatus>;
}
