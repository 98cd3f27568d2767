// Whether a tenant's Matomo answers, as a user of it would find out: the tracker serves matomo.js and
// matomo.php, the web serves the login page and the Reporting API answers the platform's token. The
// operator's Ready condition rests on this (tenant-snapshot.ts).
import { MatomoApiError, matomoRequest, reportingApi, snippet, type MatomoEndpoint } from "./client.ts";

export type ProbeResult =
  | { readonly ok: true; readonly version: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

const fail = (reason: string, message: string): ProbeResult => ({ ok: false, reason, message });

async function get(endpoint: MatomoEndpoint, path: string, timeoutMs: number): Promise<{ status: number; type: string; body: string } | string> {
  try {
    const r = await matomoRequest(endpoint, path, { timeoutMs });
    return { status: r.status, type: String(r.headers["content-type"] ?? ""), body: r.body };
  } catch (err) {
    return (err as Error).message;
  }
}

export async function probeMatomo(tracker: MatomoEndpoint, web: MatomoEndpoint, token: string, timeoutMs = 4_000): Promise<ProbeResult> {
  const js = await get(tracker, "/matomo.js", timeoutMs);
  if (typeof js === "string") return fail("TrackerNotAnswering", `the tracker Service does not answer: ${js}`);
  if (js.status !== 200 || !/javascript/.test(js.type)) return fail("TrackerNotAnswering", `the tracker answers /matomo.js with HTTP ${js.status} (${js.type || "no type"}): ${snippet(js.body)}`);
  const php = await get(tracker, "/matomo.php", timeoutMs);
  if (typeof php === "string") return fail("TrackerNotAnswering", `the tracker Service does not answer /matomo.php: ${php}`);
  if (php.status !== 200) return fail("TrackerNotAnswering", `the tracker answers /matomo.php with HTTP ${php.status}: ${snippet(php.body)}`);

  const login = await get(web, "/index.php?module=Login", timeoutMs);
  if (typeof login === "string") return fail("WebNotAnswering", `the web Service does not answer: ${login}`);
  if (login.status !== 200 || !login.body.includes("login_form")) return fail("WebNotAnswering", `the web answers the login page with HTTP ${login.status}: ${snippet(login.body)}`);
  try {
    const v = await reportingApi<{ value?: string }>(web, token, "API.getMatomoVersion", {}, timeoutMs);
    if (typeof v.value !== "string") return fail("ApiNotAnswering", "the Reporting API's API.getMatomoVersion gave no version");
    return { ok: true, version: v.value };
  } catch (err) {
    if (err instanceof MatomoApiError && /token_auth|access|authenticat/i.test(err.message)) {
      return fail("ApiTokenRejected", `the Reporting API refuses the platform's token (api-token of the tenant Secret): ${err.message}`);
    }
    return fail("ApiNotAnswering", `the Reporting API does not answer: ${(err as Error).message}`);
  }
}
