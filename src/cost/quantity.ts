// Kubernetes resource quantities as numbers: CPU in millicores and memory in bytes, for plans'
// requests and nodes' allocatable.

const SUFFIX: Record<string, number> = {
  "": 1, m: 1e-3,
  k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
const PATTERN = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** The value of a quantity such as 250m, 1.5, 512Mi or 16132452Ki. */
export function quantityValue(q: string): number {
  const m = PATTERN.exec(q.trim());
  if (!m) throw new Error(`"${q}" is not a Kubernetes quantity such as 250m, 2 or 512Mi`);
  return Number(m[1]) * (SUFFIX[m[2] ?? ""] ?? 1);
}

export function cpuMillis(q: string): number {
  return Math.round(quantityValue(q) * 1000);
}

export function memoryBytes(q: string): number {
  return Math.round(quantityValue(q));
}

export interface Resources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

export const NO_RESOURCES: Resources = { cpuMillis: 0, memoryBytes: 0 };

export function resources(r: { readonly cpu: string; readonly memory: string }): Resources {
  return { cpuMillis: cpuMillis(r.cpu), memoryBytes: memoryBytes(r.memory) };
}

export function addResources(a: Resources, b: Resources, times = 1): Resources {
  return { cpuMillis: a.cpuMillis + b.cpuMillis * times, memoryBytes: a.memoryBytes + b.memoryBytes * times };
}

/** 300m / 512Mi: how requests are written. */
export function formatResources(r: Resources): { cpu: string; memory: string } {
  const mi = r.memoryBytes / 2 ** 20;
  return { cpu: `${r.cpuMillis}m`, memory: Number.isInteger(mi) ? `${mi}Mi` : `${r.memoryBytes}` };
}
