import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { kubeName, parseCaFile, parseControlImage, parseResolver, parseServiceRef, parseTenantImage, registerOperator } from "./operator.ts";

/** `mms operator ARGS` up to the action: what commander says on stderr/stdout and whether it stopped. */
function parse(args: string[]): { out: string; err: string; code: string | undefined } {
  const program = new Command("mms").exitOverride();
  let out = "";
  let err = "";
  program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerOperator(program);
  const op = program.commands.find((c) => c.name() === "operator");
  op?.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  try {
    program.parse(["operator", ...args], { from: "user" });
    return { out, err, code: undefined };
  } catch (e) {
    return { out, err, code: (e as { code?: string }).code };
  }
}

test("mms operator --help names the TLS modes, their flags and their defaults", () => {
  const { out, code } = parse(["--help"]);
  assert.equal(code, "commander.helpDisplayed");
  for (const flag of ["--tls <mode>", "--cluster-issuer <name>", "--acme-resolver <name>", "--ingress-class <name>", "--ingress-namespace <ns>",
    "--ingress-service <namespace/name>", "--acme-ca-file <path>", "--tenant-image <repository>", "--control-image <ref>"]) {
    assert.ok(out.includes(flag), `${flag} is in the help`);
  }
  const flat = out.replace(/\s+/g, " ");
  assert.match(flat, /choices: "cert-manager", "ingress-acme"/);
  assert.match(flat, /default: "cert-manager"/);
  assert.match(flat, /default: "letsencrypt-prod"/);
  assert.match(flat, /default: "letsencrypt"/);
  assert.match(flat, /default: traefik\/traefik/);
});

test("a TLS mode that does not exist is refused with the ones that do", () => {
  const { err, code } = parse(["--tls", "letsencrypt"]);
  assert.equal(code, "commander.invalidArgument");
  assert.match(err, /'letsencrypt' is invalid\. Allowed choices are cert-manager, ingress-acme/);
});

test("names, the ingress Service and the resolver are checked where they are given", () => {
  assert.equal(kubeName("--cluster-issuer", "a ClusterIssuer")("letsencrypt-staging"), "letsencrypt-staging");
  assert.throws(() => kubeName("--cluster-issuer", "a ClusterIssuer")("Lets_Encrypt"), /--cluster-issuer takes the name of a ClusterIssuer.*"Lets_Encrypt"/);
  assert.throws(() => kubeName("--ingress-namespace", "a namespace", true)("kube.system"), InvalidArgumentError, "a namespace has no dots");
  assert.deepEqual(parseServiceRef("ingress/traefik-lb"), { namespace: "ingress", name: "traefik-lb" });
  for (const bad of ["traefik", "a/b/c", "/traefik", "Traefik/traefik"]) assert.throws(() => parseServiceRef(bad), /namespace\/name/, bad);
  assert.equal(parseResolver("pebble"), "pebble");
  assert.throws(() => parseResolver("lets encrypt"), /certificate resolver/);
});

test("the tenant image is a repository without tag; the control image has a tag or digest", () => {
  for (const ok of ["ghcr.io/matomo-multiscale/matomo", "registry.local:5000/matomo", "matomo"]) assert.equal(parseTenantImage(ok), ok);
  assert.throws(() => parseTenantImage("ghcr.io/matomo-multiscale/matomo:5.2.1"), /without tag or digest \(each tenant's Matomo version is the tag\)/);
  assert.throws(() => parseTenantImage("matomo:5"), /without tag/);
  assert.throws(() => parseTenantImage("Ghcr.io/x y"), /not an image repository/);
  const digest = `ghcr.io/matomo-multiscale/mms@sha256:${"a".repeat(64)}`;
  for (const ok of ["ghcr.io/matomo-multiscale/mms:0.2.0", "registry.local:5000/mms:dev", digest]) assert.equal(parseControlImage(ok), ok);
  assert.throws(() => parseControlImage("ghcr.io/matomo-multiscale/mms"), /needs a tag or a digest/);
  assert.throws(() => parseControlImage("mms:"), /not an image reference/);
});

test("--acme-ca-file must be a readable PEM bundle, and is kept as an absolute path", () => {
  const dir = mkdtempSync(join(tmpdir(), "ca-file-"));
  try {
    assert.throws(() => parseCaFile(join(dir, "absent.pem")), /cannot read .*absent\.pem: ENOENT/);
    writeFileSync(join(dir, "junk.pem"), "not a certificate\n");
    assert.throws(() => parseCaFile(join(dir, "junk.pem")), /is not a PEM bundle of CA certificates/);
    writeFileSync(join(dir, "bad.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert.throws(() => parseCaFile(join(dir, "bad.pem")), /is not a PEM bundle/);
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=Test CA"], { cwd: dir, stdio: "ignore" });
    } catch {
      return; // no openssl: the accepted case is left to the TLS probe's test
    }
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal(parseCaFile("ca.pem"), join(dir, "ca.pem"), "a relative path is kept absolute");
    } finally {
      process.chdir(cwd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
