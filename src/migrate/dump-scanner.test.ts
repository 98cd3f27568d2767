import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { DumpFormatError } from "../backup/dump-inspector.ts";
import { DumpScanner, type ScanOptions } from "./dump-scanner.ts";

const FIXTURE = resolve(import.meta.dirname, "../../../shared/fixtures/matomo/OmniFixture.sql.gz");

const HEADER = [
  "-- MySQL dump 10.13  Distrib 5.7.42, for Linux (x86_64)",
  "/*!40101 SET NAMES utf8 */;",
  "",
  "--",
  "-- Current Database: `matomo`",
  "--",
  "",
  "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `matomo` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;",
  "",
  "USE `matomo`;",
];

const TABLES = [
  "DROP TABLE IF EXISTS `piwik_option`;",
  "CREATE TABLE `piwik_option` (",
  "  `option_name` varchar(191) NOT NULL,",
  "  `option_value` longtext NOT NULL,",
  "  `autoload` tinyint(4) NOT NULL DEFAULT '1',",
  "  PRIMARY KEY (`option_name`),",
  "  KEY `autoload` (`autoload`)",
  ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
  "LOCK TABLES `piwik_option` WRITE;",
  "INSERT INTO `piwik_option` VALUES ('1_annotations','a:1:{s:4:\\\"note\\\";s:9:\\\"x),(y\\'; z\\\";}',0),('it''s','(',1),(_binary 'bin',NULL,0),('version_core','4.16.1',1);",
  "UNLOCK TABLES;",
  "CREATE TABLE `piwik_log_visit` (",
  "  `idvisit` bigint(10) unsigned NOT NULL AUTO_INCREMENT,",
  "  `visit_note` varchar(10) DEFAULT 'USE `x`;',",
  "  PRIMARY KEY (`idvisit`)",
  ") ENGINE=InnoDB;",
  "INSERT INTO `piwik_log_visit` VALUES",
  "(1,'a'),",
  "(2,'b');",
  "CREATE TABLE `other` (",
  "  `x` int",
  ");",
  "DELIMITER ;;",
  "/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON `other` FOR EACH ROW",
  "USE `inside_a_trigger_body`;;",
  "DELIMITER ;",
  "-- Dump completed on 2024-05-10 14:40:09",
  "",
];

const DUMP = [...HEADER, ...TABLES].join("\n");

async function scan(text: string | Buffer, chunk: number, opts: ScanOptions = {}): Promise<{ scanner: DumpScanner; out: Buffer }> {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) chunks.push(buf.subarray(i, i + chunk));
  const scanner = new DumpScanner(opts);
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), scanner, new Writable({ write: (c: Buffer, _e, done) => { out.push(c); done(); } }));
  return { scanner, out: Buffer.concat(out) };
}

test("tables, columns, option versions and database statements are found in any chunking", async () => {
  for (const size of [1, 2, 3, 7, 64, 100_000]) {
    const { scanner, out } = await scan(DUMP, size);
    assert.equal(out.toString(), DUMP, `chunks of ${size}: passed through unchanged`);
    assert.deepEqual(scanner.tables.map((t) => t.name), ["piwik_option", "piwik_log_visit", "other"]);
    assert.deepEqual(scanner.tables[0]?.columns, ["option_name", "option_value", "autoload"]);
    assert.deepEqual(scanner.tables[1]?.columns, ["idvisit", "visit_note"]);
    assert.deepEqual([...scanner.options.get("piwik_option") ?? []], [["version_core", "4.16.1"]], `chunks of ${size}`);
    assert.deepEqual(scanner.databaseStatements.map((s) => [s.database, s.beforeFirstTable]), [["matomo", true], ["matomo", true]]);
  }
});

test("each table's size is its stretch of the dump", async () => {
  const { scanner } = await scan(DUMP, 5);
  const total = Buffer.byteLength(DUMP);
  const firstTable = DUMP.indexOf("CREATE TABLE `piwik_option`");
  assert.equal(scanner.tables.reduce((n, t) => n + t.bytes, 0), total - firstTable);
  assert.equal(scanner.tables[1]?.bytes, DUMP.indexOf("CREATE TABLE `other`") - DUMP.indexOf("CREATE TABLE `piwik_log_visit`"));
});

test("the leading CREATE DATABASE and USE are left out on request, and nothing else", async () => {
  for (const size of [1, 4, 100_000]) {
    const { out } = await scan(DUMP, size, { dropLeadingDatabaseStatements: true });
    const expected = DUMP.replace("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `matomo` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n", "").replace("USE `matomo`;\n", "");
    assert.equal(out.toString(), expected, `chunks of ${size}`);
  }
});

test("a database statement after the first table is noted as such, and kept", async () => {
  const text = [...TABLES.slice(0, 8), "use other_db;", "DROP DATABASE IF EXISTS `mt_victim`;", "/*!40000 DROP DATABASE IF EXISTS `x`*/;", ""].join("\n");
  const { scanner, out } = await scan(text, 3, { dropLeadingDatabaseStatements: true });
  assert.equal(out.toString(), text);
  assert.deepEqual(scanner.databaseStatements.map((s) => [s.database, s.beforeFirstTable]), [["other_db", false], ["mt_victim", false], ["x", false]]);
});

test("an option table without a version row, or with rows mysqldump never writes", async () => {
  const noVersion = DUMP.replace("('version_core','4.16.1',1)", "('other','1',1)");
  assert.equal((await scan(noVersion, 9)).scanner.options.size, 0);
  const broken = DUMP.replace("('version_core','4.16.1',1);", "('version_core','4.16.1',1) garbage;");
  await assert.rejects(scan(broken, 9), DumpFormatError);
});

test("Matomo's OmniFixture: 42 tables without a prefix, version 5.1.0-b2, passed through byte for byte", async () => {
  const scanner = new DumpScanner({ dropLeadingDatabaseStatements: true });
  const inHash = createHash("sha256");
  const outHash = createHash("sha256");
  let size = 0;
  await pipeline(createReadStream(FIXTURE), createGunzip(),
    new Writable({ write: (c: Buffer, _e, done) => { inHash.update(c); done(); } }));
  await pipeline(createReadStream(FIXTURE), createGunzip(), scanner,
    new Writable({ write: (c: Buffer, _e, done) => { outHash.update(c); size += c.length; done(); } }));
  assert.equal(outHash.digest("hex"), inHash.digest("hex"));
  assert.equal(scanner.tables.length, 42);
  assert.equal(scanner.options.get("option")?.get("version_core"), "5.1.0-b2");
  assert.equal(scanner.options.get("option")?.get("PrivacyManager.ipAddressMaskLength"), "2");
  assert.equal(scanner.databaseStatements.length, 0);
  assert.ok(Math.abs(scanner.tables.reduce((n, t) => n + t.bytes, 0) - size) < 2000, "the tables account for the dump, less its header");
});
