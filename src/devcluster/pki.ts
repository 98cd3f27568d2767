// Certificates for the local control plane, made once per environment with the openssl CLI:
// a CA, the API server's serving certificate, an admin client certificate (system:masters) and
// the service-account signing key pair.
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { UserError } from "../util/errors.ts";
import { run } from "../util/exec.ts";

export interface Pki {
  readonly caCert: string;
  readonly caKey: string;
  readonly apiserverCert: string;
  readonly apiserverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  /** The API server's client certificate towards kubelets (logs, exec, port-forward). */
  readonly kubeletClientCert: string;
  readonly kubeletClientKey: string;
  readonly saKey: string;
  readonly saPub: string;
}

export function pkiFiles(dir: string): Pki {
  const f = (n: string) => join(dir, n);
  return {
    caCert: f("ca.crt"), caKey: f("ca.key"),
    apiserverCert: f("apiserver.crt"), apiserverKey: f("apiserver.key"),
    adminCert: f("admin.crt"), adminKey: f("admin.key"),
    kubeletClientCert: f("apiserver-kubelet-client.crt"), kubeletClientKey: f("apiserver-kubelet-client.key"),
    saKey: f("sa.key"), saPub: f("sa.pub"),
  };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run("openssl", args, { cwd });
  if (r.code !== 0) throw new UserError(`openssl ${args[0]} failed while making the dev cluster's certificates: ${r.stderrTail.split("\n").at(-1) ?? ""}`);
}

/**
 * The environment's certificates, made once. `serviceIp` is the ClusterIP of the Service `kubernetes`,
 * which the API server's certificate must name; a certificate made for another one is made again.
 */
export async function ensurePki(dir: string, serviceIp: string, hostIp?: string): Promise<Pki> {
  const p = pkiFiles(dir);
  // With real nodes, their kubelets and pods reach the API server at the host's bridge address too.
  const sans = ["IP:127.0.0.1", `IP:${serviceIp}`, ...(hostIp ? [`IP:${hostIp}`] : []), "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"];
  const apiserverExt = `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`;
  const sign = (name: string, subject: string, ext: string) => signCert(dir, p, name, subject, ext);

  // Each piece is made when missing, so an environment made by an older checkout gains only what it lacks;
  // the CA, the admin credentials and the service-account key, once made, stay.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caMade = !existsSync(p.caCert) || !existsSync(p.caKey);
  if (caMade) {
    await openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p.caKey, "-out", p.caCert,
      "-days", "3650", "-subj", "/CN=mms-dev-ca",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  }
  const missing = (...files: string[]) => caMade || files.some((f) => !existsSync(f));
  // The API server's certificate is made again when the Service IP it must name changed.
  if (missing(p.apiserverCert, p.apiserverKey) || (await readFile(join(dir, "apiserver.ext"), "utf8").catch(() => "")) !== apiserverExt) {
    await sign("apiserver", "/CN=kube-apiserver", apiserverExt);
  }
  const client = CLIENT_EXT;
  if (missing(p.adminCert, p.adminKey)) await sign("admin", "/O=system:masters/CN=mms-admin", client);
  if (missing(p.kubeletClientCert, p.kubeletClientKey)) await sign("apiserver-kubelet-client", "/O=system:masters/CN=mms-apiserver-kubelet-client", client);
  if (!existsSync(p.saKey) || !existsSync(p.saPub)) {
    await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", p.saKey], dir);
    await openssl(["pkey", "-in", p.saKey, "-pubout", "-out", p.saPub], dir);
  }
  for (const key of [p.caKey, p.apiserverKey, p.adminKey, p.kubeletClientKey, p.saKey]) await chmod(key, 0o600);
  return p;
}

const CLIENT_EXT = "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n";

async function signCert(dir: string, p: Pki, name: string, subject: string, ext: string): Promise<void> {
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, `${name}.key`),
    "-subj", subject, "-out", join(dir, `${name}.csr`)], dir);
  await openssl(["x509", "-req", "-in", join(dir, `${name}.csr`), "-CA", p.caCert, "-CAkey", p.caKey,
    "-CAcreateserial", "-days", "3650", "-out", join(dir, `${name}.crt`), "-extfile", extFile], dir);
  await chmod(join(dir, `${name}.key`), 0o600);
}

export interface ClientCert {
  readonly cert: string;
  readonly key: string;
}

/**
 * A client certificate signed by the environment's CA, made once: `subject` such as
 * "/O=system:nodes/CN=system:node:NAME" (a kubelet, which the Node authorizer then limits to its node).
 */
export async function ensureClientCert(dir: string, name: string, subject: string): Promise<ClientCert> {
  const p = pkiFiles(dir);
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(cert) || !existsSync(key)) await signCert(dir, p, name, subject, CLIENT_EXT);
  return { cert, key };
}

/**
 * A serving certificate signed by the environment's CA for the given subjectAltNames ("IP:…", "DNS:…"),
 * made again when they change (a local server that pods reach at the host's bridge address: Pebble).
 */
export async function ensureServingCert(dir: string, name: string, sans: readonly string[]): Promise<ClientCert> {
  const p = pkiFiles(dir);
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const ext = `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`;
  const same = (await readFile(join(dir, `${name}.ext`), "utf8").catch(() => "")) === ext;
  if (!same || !existsSync(cert) || !existsSync(key)) await signCert(dir, p, name, `/CN=${name}`, ext);
  return { cert, key };
}

/** A kubeconfig with the credentials embedded, so it works when copied elsewhere. */
export async function writeKubeconfig(file: string, server: string, pki: Pki, user: ClientCert = { cert: pki.adminCert, key: pki.adminKey }): Promise<void> {
  const b64 = async (f: string) => (await readFile(f)).toString("base64");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "mms-dev", cluster: { server, "certificate-authority-data": await b64(pki.caCert) } }],
    users: [{ name: "mms-admin", user: {
      "client-certificate-data": await b64(user.cert),
      "client-key-data": await b64(user.key),
    } }],
    contexts: [{ name: "mms-dev", context: { cluster: "mms-dev", user: "mms-admin" } }],
    "current-context": "mms-dev",
  };
  await writeFile(file, toYaml(config), { mode: 0o600 });
}
