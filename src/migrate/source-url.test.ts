import { test } from "node:test";
import assert from "node:assert/strict";
import { describeSource, maskPassword, parseMysqlUrl } from "./source-url.ts";

test("a source URL gives host, port, user, password and database, decoded", () => {
  assert.deepEqual(parseMysqlUrl("mysql://matomo:s3cr%40t%2Fx@db.example.com:3307/matomo_prod"),
    { host: "db.example.com", port: 3307, user: "matomo", password: "s3cr@t/x", database: "matomo_prod" });
  assert.deepEqual(parseMysqlUrl("mariadb://root@[::1]/piwik"), { host: "::1", port: 3306, user: "root", password: "", database: "piwik" });
  assert.equal(parseMysqlUrl("mysql://u@h/db", "from-env").password, "from-env", "the fallback fills a missing password");
  assert.equal(parseMysqlUrl("mysql://u:inurl@h/db", "from-env").password, "inurl");
});

test("a bad source URL is refused without repeating it, so its password never shows", () => {
  const secret = "Hunter2-very-secret";
  for (const bad of [
    `http://u:${secret}@h/db`, `mysql://u:${secret}@h`, `mysql://u:${secret}@h/`, `mysql://u:${secret}@h/a/b`,
    `mysql://:${secret}@h/db`, `mysql://u:${secret}@h/db?ssl=1`, `u:${secret}@h/db`, `mysql://u:${secret}%ZZ@h/db`,
  ]) {
    assert.throws(() => parseMysqlUrl(bad), (err: Error) => {
      assert.ok(!err.message.includes(secret), `${bad} → ${err.message}`);
      assert.match(err.message, /--from-mysql/);
      return true;
    });
  }
});

test("the source is shown and masked without its password", () => {
  const s = parseMysqlUrl("mysql://matomo:p%40ss@db:3306/m");
  assert.equal(describeSource(s), "mysql://matomo@db:3306/m");
  assert.equal(describeSource({ ...s, host: "::1" }), "mysql://matomo@[::1]:3306/m");
  assert.equal(maskPassword("Access denied (p@ss) url mysql://matomo:p%40ss@db", s), "Access denied (***) url mysql://matomo:***@db");
  assert.equal(maskPassword("unchanged", { ...s, password: "" }), "unchanged");
});
