// Programs that come from Debian packages: MariaDB and Redis for every dev environment, and the pieces
// of a real node (runc, the CNI plugins, iptables) and of image builds (buildah, skopeo, mmdebstrap).
// When missing they are installed with apt, without letting the packages start their system services:
// the dev environment runs its own copies.
import { existsSync } from "node:fs";
import { writeFile, rm } from "node:fs/promises";
import { UserError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import { run } from "../util/exec.ts";
import type { NodePrograms, SystemPrograms } from "./components.ts";

/** A set of programs, where each may live, and the Debian packages that bring them. */
export interface DebianProgramSet<K extends string> {
  /** What the set is for, in a sentence's words ("MariaDB and Redis"). */
  readonly what: string;
  readonly programs: Readonly<Record<K, readonly string[]>>;
  readonly packages: readonly string[];
}

export const DATABASE_PROGRAMS: DebianProgramSet<keyof SystemPrograms> = {
  what: "MariaDB and Redis",
  programs: {
    mariadbd: ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"],
    mariadbInstallDb: ["/usr/bin/mariadb-install-db", "/usr/sbin/mariadb-install-db"],
    redisServer: ["/usr/bin/redis-server", "/usr/sbin/redis-server"],
  },
  packages: ["mariadb-server", "mariadb-client", "redis-server"],
};

/** A real node's runtime pieces that Debian's packages serve at versions Kubernetes 1.34 accepts. */
export const NODE_PROGRAMS: DebianProgramSet<Exclude<keyof NodePrograms, "buildah">> = {
  what: "the real node's runtime (runc, CNI plugins, iptables, ipset, gcc)",
  programs: {
    runc: ["/usr/sbin/runc", "/usr/bin/runc"],
    // Debian installs the CNI plugins here; kubelet's container runtime is told this folder.
    cniBridge: ["/usr/lib/cni/bridge"],
    iptables: ["/usr/sbin/iptables"],
    nsenter: ["/usr/bin/nsenter"],
    // kube-router's NetworkPolicy engine keeps the pods' address sets with it.
    ipset: ["/usr/sbin/ipset", "/sbin/ipset"],
    // Builds the pause image's program (pause.ts).
    gcc: ["/usr/bin/gcc"],
  },
  packages: ["runc", "containernetworking-plugins", "iptables", "ipset", "util-linux", "conntrack", "gcc", "libc6-dev"],
};

/** Image builds without a Docker daemon. */
export const IMAGE_PROGRAMS: DebianProgramSet<"buildah" | "skopeo" | "mmdebstrap"> = {
  what: "the image builders (buildah, skopeo, mmdebstrap)",
  programs: {
    buildah: ["/usr/bin/buildah"],
    skopeo: ["/usr/bin/skopeo"],
    mmdebstrap: ["/usr/bin/mmdebstrap"],
  },
  packages: ["buildah", "skopeo", "mmdebstrap", "uidmap", "fuse-overlayfs"],
};

/** The browser of the web UI tests: Debian's Chromium, driven by playwright-core (which downloads nothing). */
export const BROWSER_PROGRAMS: DebianProgramSet<"chromium"> = {
  what: "the web UI tests' browser (Debian's Chromium)",
  programs: { chromium: ["/usr/bin/chromium"] },
  packages: ["chromium"],
};

function find<K extends string>(set: DebianProgramSet<K>): Partial<Record<K, string>> {
  const found: Partial<Record<K, string>> = {};
  for (const [name, paths] of Object.entries(set.programs) as [K, readonly string[]][]) {
    const hit = paths.find((p) => existsSync(p));
    if (hit) found[name] = hit;
  }
  return found;
}

function complete<K extends string>(set: DebianProgramSet<K>, found: Partial<Record<K, string>>): found is Record<K, string> {
  return Object.keys(set.programs).every((k) => found[k as K] !== undefined);
}

/** The set's programs, installing its packages with apt first when one is missing. */
export async function ensureDebianPrograms<K extends string>(set: DebianProgramSet<K>, progress: Progress): Promise<Record<K, string>> {
  const found = find(set);
  if (complete(set, found)) return found;
  if (process.getuid?.() !== 0) {
    throw new UserError(`${set.what} are missing; install them once with: sudo apt-get install -y ${set.packages.join(" ")}`);
  }
  progress.step(`installing ${set.packages.join(", ")} from Debian packages (first time only)`);
  // policy-rc.d answering 101 stops the packages from starting their system services.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) await writeFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const update = await run("apt-get", ["update", "-q"], { env });
    if (update.code !== 0) throw new UserError(`apt-get update failed: ${update.stderrTail.split("\n").at(-1) ?? ""}`);
    const install = await run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...set.packages], { env });
    if (install.code !== 0) throw new UserError(`apt-get install ${set.packages.join(" ")} failed: ${install.stderrTail.split("\n").at(-1) ?? ""}`);
  } finally {
    if (ownPolicy) await rm(policy, { force: true });
  }
  const after = find(set);
  if (!complete(set, after)) {
    const missing = Object.keys(set.programs).filter((k) => after[k as K] === undefined);
    throw new UserError(`${missing.join(", ")} still missing after apt-get install ${set.packages.join(" ")}; check the apt output above`);
  }
  return after;
}

export function ensureSystemPrograms(progress: Progress): Promise<SystemPrograms> {
  return ensureDebianPrograms(DATABASE_PROGRAMS, progress);
}
