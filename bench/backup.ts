// Benchmark: backup (dump + gzip + upload) and restore (download + verify + load) of a Matomo-shaped
// database of about 1 GB of dump, side by side with the plain baseline `mariadb-dump | gzip > file` and
// `gunzip < file | mariadb`, on an isolated dev environment. Prints one JSON object as its last line.
// Usage: scripts/node bench/backup.ts [--visits 2000000] [--actions-per-visit 4] [--port-base 29000]
// (The default base keeps every port below Linux's ephemeral range, 32768 and up, where an outgoing
// connection could already hold one.)
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createConnection } from "mysql2/promise";
import { runBackup } from "../src/backup/backup.ts";
import { restoreBackup } from "../src/backup/restore.ts";
import { createS3Client } from "../src/backup/storage.ts";
import { ObjectStore } from "../src/backup/store.ts";
import { createProgress } from "../src/util/progress.ts";
import { DEV_BACKUP_BUCKET, down, endpoints, up } from "../src/devcluster/environment.ts";

const { values } = parseArgs({
  options: {
    visits: { type: "string", default: "2000000" },
    "actions-per-visit": { type: "string", default: "4" },
    "port-base": { type: "string", default: "29000" },
  },
});
const visits = Number(values.visits);
const actions = visits * Number(values["actions-per-visit"]);
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-backup-"));
const env: NodeJS.ProcessEnv = { ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"] };
const progress = createProgress(process.stderr);
const mib = (b: number) => b / 1024 / 1024;
const round = (x: number) => Math.round(x * 100) / 100;

function sh(script: string, extraEnv: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", script], { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "ignore", "inherit"] });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`baseline failed with code ${code}`))));
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
}

try {
  await up({ nodes: 1, realNodes: 0, progress, env });
  const e = await endpoints(env);
  const pool = { host: e.mariadb.host, port: e.mariadb.port, adminUser: e.mariadb.user, adminPassword: e.mariadb.password };
  const admin = await createConnection({ ...e.mariadb, multipleStatements: true });
  progress.step(`generating ${visits} visits and ${actions} actions (Matomo-shaped)`);
  await admin.query(`
    DROP DATABASE IF EXISTS mt_bench; DROP DATABASE IF EXISTS mt_bench_copy; DROP DATABASE IF EXISTS mt_bench_base;
    CREATE DATABASE mt_bench CHARACTER SET utf8mb4;
    CREATE TABLE mt_bench.matomo_log_visit (
      idvisit BIGINT UNSIGNED PRIMARY KEY, idsite INT UNSIGNED NOT NULL, idvisitor BINARY(8) NOT NULL,
      visit_last_action_time DATETIME NOT NULL, config_id BINARY(8) NOT NULL, location_ip VARBINARY(16) NOT NULL,
      visit_total_actions INT, referer_url VARCHAR(1500), config_browser_name VARCHAR(40), location_country CHAR(3),
      KEY index_idsite_datetime (idsite, visit_last_action_time)) ENGINE=InnoDB;
    CREATE TABLE mt_bench.matomo_log_link_visit_action (
      idlink_va BIGINT UNSIGNED PRIMARY KEY, idsite INT UNSIGNED NOT NULL, idvisitor BINARY(8) NOT NULL,
      idvisit BIGINT UNSIGNED NOT NULL, idaction_url INT UNSIGNED, server_time DATETIME NOT NULL,
      time_spent_ref_action INT UNSIGNED, custom_float DOUBLE, KEY index_idvisit (idvisit)) ENGINE=InnoDB;`);
  await admin.query(`INSERT INTO mt_bench.matomo_log_visit SELECT seq, 1 + seq % 20, UNHEX(SUBSTR(MD5(seq), 1, 16)),
      '2026-01-01' + INTERVAL (seq % 31536000) SECOND, UNHEX(SUBSTR(SHA1(seq), 1, 16)), UNHEX(SUBSTR(MD5(seq * 7), 1, 8)),
      seq % 30, CONCAT('https://www.example', seq % 1000, '.com/search?q=', MD5(seq)), ELT(1 + seq % 4, 'Chrome', 'Firefox', 'Safari', 'Edge'),
      ELT(1 + seq % 5, 'fr', 'de', 'us', 'gb', 'es') FROM mysql.seq_1_to_${visits}`);
  await admin.query(`INSERT INTO mt_bench.matomo_log_link_visit_action SELECT seq, 1 + seq % 20, UNHEX(SUBSTR(MD5(seq DIV ${values["actions-per-visit"]}), 1, 16)),
      1 + seq DIV ${values["actions-per-visit"]}, seq % 100000, '2026-01-01' + INTERVAL (seq % 31536000) SECOND, seq % 600, seq / 3.0
      FROM mysql.seq_1_to_${actions}`);

  const s3 = createS3Client({ endpoint: e.s3.endpoint, region: e.s3.region, forcePathStyle: true, accessKeyId: e.s3.accessKeyId, secretAccessKey: e.s3.secretAccessKey });
  const common = { pool, store: new ObjectStore(s3, DEV_BACKUP_BUCKET) };

  progress.step("backup: ours (dump, gzip, sha256, multipart upload, manifest)");
  const [result, oursBackup] = await timed(() => runBackup({ ...common, tenant: "bench", database: "mt_bench", tableChecksums: false }));
  progress.step("backup: baseline mariadb-dump | gzip > file");
  const file = join(scratch, "baseline.sql.gz");
  const pw = { MYSQL_PWD: e.mariadb.password };
  const conn = `-h ${e.mariadb.host} -P ${e.mariadb.port} -u ${e.mariadb.user}`;
  const [, baseBackup] = await timed(() => sh(`mariadb-dump ${conn} --single-transaction --quick --hex-blob mt_bench | gzip > ${file}`, pw));

  progress.step("restore: ours (download, sha256 check, load, row-count check)");
  const [restored, oursRestore] = await timed(() => restoreBackup({ ...common, tenant: "bench", backupId: result.manifest.backupId, database: "mt_bench_copy" }));
  progress.step("restore: baseline gunzip < file | mariadb");
  await admin.query("CREATE DATABASE mt_bench_base");
  const [, baseRestore] = await timed(() => sh(`gunzip < ${file} | mariadb ${conn} mt_bench_base`, pw));
  await admin.query("DROP DATABASE mt_bench; DROP DATABASE mt_bench_copy; DROP DATABASE mt_bench_base");
  await admin.end();
  s3.destroy();

  const dumpMiB = mib(result.manifest.object.uncompressedBytes);
  const restoreMiBps = dumpMiB / oursRestore;
  const rto = (gb: number) => round((gb * 1024) / restoreMiBps);
  progress.done();
  console.log(JSON.stringify({
    benchmark: "backup",
    rows: { visits, actions },
    dumpMiB: round(dumpMiB),
    storedMiB: round(mib(result.manifest.object.bytes)),
    baselineFileMiB: round(mib((await stat(file)).size)),
    backupSeconds: { ours: round(oursBackup), baseline: round(baseBackup) },
    backupMiBps: { ours: round(dumpMiB / oursBackup), baseline: round(dumpMiB / baseBackup) },
    backupRatio: round(baseBackup / oursBackup),
    restoreSeconds: { ours: round(oursRestore), baseline: round(baseRestore), oursPhases: restored.timings },
    restoreMiBps: { ours: round(restoreMiBps), baseline: round(dumpMiB / baseRestore) },
    restoreRatio: round(baseRestore / oursRestore),
    projectedRestoreSeconds: { "1GB": rto(1), "10GB": rto(10), "50GB": rto(50) },
  }));
} finally {
  await down(env).catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
}
