// DatabasePool: a MariaDB/MySQL server the platform may place tenants on.
import { z } from "zod";
import { DNS_LABEL_PATTERN } from "./names.ts";

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
