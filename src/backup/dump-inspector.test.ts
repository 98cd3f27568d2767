import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { DumpInspector } from "./dump-inspector.ts";

const DUMP = [
  "/*M!999999\\- enable the sandbox mode */ ",
  "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB",
  "/*!40101 SET NAMES utf8mb4 */;",
  "DROP TABLE IF EXISTS `log_visit`;",
  "CREATE TABLE `log_visit` (",
  "  `idvisit` bigint(10) unsigned NOT NULL AUTO_INCREMENT,",
  "  PRIMARY KEY (`idvisit`)",
  ") ENGINE=InnoDB;",
  "LOCK TABLES `log_visit` WRITE;",
  "INSERT INTO `log_visit` VALUES (1,'a (tricky), \\'quoted\\' ; string',0x28290A),(2,NULL,'x\\\\'),(3,'));(','');",
  "INSERT INTO `log_visit` VALUES",
  "(4,'multi\nline (raw newline)',NULL),",
  "(5,'\\\\',NULL);",
  "UNLOCK TABLES;",
  "CREATE TABLE `empty` (",
  "  `x` int",
  ");",
  "CREATE TABLE `we``ird` (",
  "  `x` int",
  ");",
  "INSERT INTO `we``ird` VALUES (1);",
  "DELIMITER ;;",
  "/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON `empty` FOR EACH ROW",
  "INSERT INTO `empty` VALUES (1),(2) */;;",
  "DELIMITER ;",
  "-- Dump completed on 2026-11-26 15:12:00",
  "",
].join("\n");

async function inspect(text: string, chunkSize: number): Promise<DumpInspector> {
  const buf = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunkSize) chunks.push(buf.subarray(i, i + chunkSize));
  const inspector = new DumpInspector();
  await pipeline(Readable.from(chunks), inspector, new Writable({ write: (_c, _e, cb) => cb() }));
  return inspector;
}

test("rows are counted per table, whatever the strings hold and however the stream is cut", async () => {
  for (const size of [1, 2, 3, 7, 64, 100_000]) {
    const i = await inspect(DUMP, size);
    assert.deepEqual([...i.rows], [["log_visit", 5], ["empty", 0], ["we`ird", 1]], `chunk size ${size}`);
    assert.equal(i.completed, true);
    assert.equal(i.bytes, Buffer.byteLength(DUMP));
  }
});

test("a dump cut off inside its data fails instead of undercounting, and has no closing line", async () => {
  const cut = DUMP.slice(0, DUMP.indexOf("(2,NULL"));
  await assert.rejects(inspect(cut, 16), /ends inside the data of table log_visit/);
  const i = await inspect(DUMP.slice(0, DUMP.indexOf("-- Dump completed")), 16);
  assert.equal(i.completed, false);
});

test("an INSERT in a form it does not know fails the stream", async () => {
  await assert.rejects(inspect("INSERT INTO `t` (`a`) VALUES (1);\n", 5), /does not understand/);
});

test("the first table definition is announced once", async () => {
  let calls = 0;
  const inspector = new DumpInspector(() => calls++);
  await pipeline(Readable.from([Buffer.from(DUMP)]), inspector, new Writable({ write: (_c, _e, cb) => cb() }));
  assert.equal(calls, 1);
});
