// Durations given on the command line ("90s", "5m", "1h30m", or plain seconds), parsed once.

export function parseDuration(raw: string): number {
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    total += m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n * 3_600_000;
    matched = re.lastIndex;
  }
  if (matched !== text.length || text.length === 0) throw new Error(`"${raw}" is not a duration; use forms like 90s, 5m or 1h30m`);
  return total;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
