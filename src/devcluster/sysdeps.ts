// MariaDB and Redis come from Debian packages. When missing they are installed with apt, without
// letting the packages start their system services: the dev environment runs its own copies.
import { existsSync } from "node:fs";
import { writeFile, rm } from "node:fs/promises";
import { UserError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import { run } from "../util/exec.ts";
import type { SystemPrograms } from "./components.ts";

const CANDIDATES = {
  mariadbd: ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"],
  mariadbInstallDb: ["/usr/bin/mariadb-install-db", "/usr/sbin/mariadb-install-db"],
  redisServer: ["/usr/bin/redis-server", "/usr/sbin/redis-server"],
} as const;
const PACKAGES = ["mariadb-server", "mariadb-client", "redis-server"];

function find(): Partial<SystemPrograms> {
  const pick = (paths: readonly string[]) => paths.find((p) => existsSync(p));
  return {
    mariadbd: pick(CANDIDATES.mariadbd),
    mariadbInstallDb: pick(CANDIDATES.mariadbInstallDb),
    redisServer: pick(CANDIDATES.redisServer),
  };
}

function complete(p: Partial<SystemPrograms>): p is SystemPrograms {
  return Boolean(p.mariadbd && p.mariadbInstallDb && p.redisServer);
}

export async function ensureSystemPrograms(progress: Progress): Promise<SystemPrograms> {
  const found = find();
  if (complete(found)) return found;
  if (process.getuid?.() !== 0) {
    throw new UserError(`MariaDB and Redis are missing; install them once with: sudo apt-get install -y ${PACKAGES.join(" ")}`);
  }
  progress.step(`installing ${PACKAGES.join(", ")} from Debian packages (first time only)`);
  // policy-rc.d answering 101 stops the packages from starting their system services.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) await writeFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const update = await run("apt-get", ["update", "-q"], { env });
    if (update.code !== 0) throw new UserError(`apt-get update failed: ${update.stderrTail.split("\n").at(-1) ?? ""}`);
    const install = await run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...PACKAGES], { env });
    if (install.code !== 0) throw new UserError(`apt-get install ${PACKAGES.join(" ")} failed: ${install.stderrTail.split("\n").at(-1) ?? ""}`);
  } finally {
    if (ownPolicy) await rm(policy, { force: true });
  }
  const after = find();
  if (!complete(after)) throw new UserError("MariaDB or Redis is still missing after apt-get install; check the apt output above");
  return after;
}
