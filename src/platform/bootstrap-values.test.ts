import { test } from "node:test";
import assert from "node:assert/strict";
import { bootstrapObjects } from "./bootstrap.ts";
import { parseBootstrapValues } from "./bootstrap-values.ts";
import { UserError } from "../util/errors.ts";

const SECRET = "s3cr3t-Value-never-shown";
const platform = {
  chart: { tenants: { ingress: { className: "traefik" } } },
  backupStore: { name: "default", endpoint: "https://s3.gra.io.cloud.ovh.net", region: "gra", bucket: "acme-mms-backups", prefix: "", accessKeyId: "AKID", secretAccessKey: SECRET },
  databasePool: { name: "pool-1", host: "mysql-1.database.cloud.ovh.net", port: 20184, username: "avnadmin", password: SECRET, capacity: 150 },
};

test("the platform output of terraform is read as is, or out of the whole `terraform output -json`", () => {
  const raw = parseBootstrapValues(JSON.stringify(platform), "platform.json");
  const wrapped = parseBootstrapValues(JSON.stringify({
    kubeconfig: { sensitive: true, type: "string", value: "apiVersion: v1" },
    platform: { sensitive: true, type: ["object", {}], value: platform },
  }), "outputs.json");
  assert.deepEqual(wrapped, raw);
  assert.equal(raw.databasePool?.port, 20184);
  assert.equal(parseBootstrapValues(JSON.stringify({ ...platform, databasePool: null }), "p.json").databasePool, null);
});

test("a bad values file is refused with each bad field's path, never with a credential in the message", () => {
  const bad = { ...platform, backupStore: { ...platform.backupStore, bucket: "Not_A_Bucket" }, databasePool: { ...platform.databasePool, port: 0 }, extra: 1 };
  assert.throws(() => parseBootstrapValues(JSON.stringify(bad), "platform.json"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /^platform\.json is not a platform values file/);
    assert.match(err.message, /backupStore\.bucket: must be a bucket name/);
    assert.match(err.message, /databasePool\.port/);
    assert.match(err.message, /extra/);
    assert.doesNotMatch(err.message, new RegExp(SECRET));
    return true;
  });
  assert.throws(() => parseBootstrapValues("{ not json: [", "p.json"), /p\.json is not JSON or YAML/);
  assert.throws(() => parseBootstrapValues(JSON.stringify({ chart: {} }), "p.json"), /backupStore: /);
});

test("the objects made from the values: the store's key and the pool's admin in Secrets the specs point at", () => {
  const objects = bootstrapObjects(parseBootstrapValues(JSON.stringify(platform), "p.json"), "mms-system");
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), ["Secret/backup-store-default", "BackupStore/default", "Secret/pool-1-admin", "DatabasePool/pool-1"]);
  type Loose = { data: Record<string, string>; spec: Record<string, unknown> & { credentialsSecretRef?: unknown; bucket?: string } };
  const [storeSecret, store, poolSecret, pool] = objects as unknown as [Loose, Loose, Loose, Loose];
  assert.equal(Buffer.from(storeSecret.data["secret-access-key"] ?? "", "base64").toString(), SECRET);
  assert.deepEqual(store.spec.credentialsSecretRef, { namespace: "mms-system", name: "backup-store-default", accessKeyIdKey: "access-key-id", secretAccessKeyKey: "secret-access-key" });
  assert.equal(store.spec.bucket, "acme-mms-backups");
  assert.equal(Buffer.from(poolSecret.data.username ?? "", "base64").toString(), "avnadmin");
  assert.deepEqual(pool.spec, { host: "mysql-1.database.cloud.ovh.net", port: 20184, capacity: 150, adminSecretRef: { namespace: "mms-system", name: "pool-1-admin", usernameKey: "username", passwordKey: "password" }, backup: { store: "default" } });
  assert.equal(bootstrapObjects(parseBootstrapValues(JSON.stringify({ ...platform, databasePool: null }), "p.json")).length, 2);
});
