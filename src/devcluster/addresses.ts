// The cluster addresses of one dev environment. Every one lies in 198.18.0.0/15, the block RFC 2544 sets
// aside for benchmarking networks, so no cluster packet can reach a real network: this workplace flags
// traffic to private ranges and public addresses. Each environment gets its own /20 of that block,
// picked from its port base, so environments side by side (tests run several) never share an address:
//
//   .0.0/24    the node network: the bridge the environment creates, host at .1, real node n at .(1 + n)
//   .1.0/24 …  a /24 of pod addresses per real node (at most three)
//   .4.0/22    Services (1,024 ClusterIPs): the API server's Service at .1, cluster DNS at .10
//   .8.0/21    the simulated (KWOK) nodes' pods: addresses nothing answers, and which the `unreachable`
//              route `dev up` adds keeps on this machine when a real node's kube-proxy sends them traffic
//
// The blocks are pure arithmetic here; the interfaces and routes that carry them are made by `dev up`.

/** The whole range cluster addresses come from (RFC 2544). */
export const CLUSTER_RANGE = "198.18.0.0/15";
const RANGE_START = (198 << 24) | (18 << 16);
/** /20 blocks in the /15: one per environment. */
export const SLOTS = 32;
const SLOT_SIZE = 4096;
export const MAX_REAL_NODES = 3;

export interface AddressPlan {
  /** Which /21 of the range this environment has. */
  readonly slot: number;
  /** This environment's whole block. */
  readonly block: string;
  readonly nodeSubnet: string;
  /** The host's address on the node bridge (the nodes' gateway). */
  readonly hostIp: string;
  readonly serviceCidr: string;
  /** ClusterIP of the Service `default/kubernetes`; the API server's certificate names it. */
  readonly apiServiceIp: string;
  /** ClusterIP of the cluster DNS Service. */
  readonly dnsServiceIp: string;
  /** Pod addresses KWOK gives the simulated nodes' pods, as its --cidr flag wants them (first address/prefix). */
  readonly simulatedPodCidr: string;
  /** The address of real node `n` (1-based) on the node bridge. */
  nodeIp(n: number): string;
  /** The pod addresses of real node `n` (1-based). */
  podSubnet(n: number): string;
}

function ip(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The environment's slot: its port base in hundreds, modulo the number of slots. */
export function addressSlot(portBase: number): number {
  return Math.floor(portBase / 100) % SLOTS;
}

export function addressPlan(portBase: number): AddressPlan {
  const slot = addressSlot(portBase);
  const start = RANGE_START + slot * SLOT_SIZE;
  const checkNode = (n: number) => {
    if (!Number.isInteger(n) || n < 1 || n > MAX_REAL_NODES) throw new Error(`real node ${n}: a dev environment has real nodes 1 to ${MAX_REAL_NODES}`);
  };
  return {
    slot,
    block: `${ip(start)}/20`,
    nodeSubnet: `${ip(start)}/24`,
    hostIp: ip(start + 1),
    serviceCidr: `${ip(start + 4 * 256)}/22`,
    apiServiceIp: ip(start + 4 * 256 + 1),
    dnsServiceIp: ip(start + 4 * 256 + 10),
    simulatedPodCidr: `${ip(start + 8 * 256 + 1)}/21`,
    nodeIp(n) {
      checkNode(n);
      return ip(start + 1 + n);
    },
    podSubnet(n) {
      checkNode(n);
      return `${ip(start + n * 256)}/24`;
    },
  };
}

/** Whether an IPv4 address lies in CLUSTER_RANGE. */
export function inClusterRange(address: string): boolean {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false;
  return parts[0] === 198 && (parts[1] === 18 || parts[1] === 19);
}
