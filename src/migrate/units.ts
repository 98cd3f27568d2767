// Sizes for people: dumps range from kilobytes (a test install) to hundreds of gigabytes.

const UNITS = ["KiB", "MiB", "GiB", "TiB"];

/** `512 B`, `3.4 KiB`, `1.6 MiB`, `210.0 GiB`. */
export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes / 1024;
  let unit = 0;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v.toFixed(1)} ${UNITS[unit]}`;
}
