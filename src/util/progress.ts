// Progress on stderr: a self-rewriting line on a terminal, plain throttled lines elsewhere (CI logs).

export interface Progress {
  /** Starts a named step; the previous one is considered done. */
  step(text: string): void;
  /** Reports how far the current step is, e.g. "412/1630 packages". */
  update(text: string): void;
  /** Prints a line that stays (warnings, notes). */
  info(text: string): void;
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const tty = stream.isTTY === true;
  let current = "";
  let lastPlain = 0;
  let pending = false;
  const clear = () => {
    if (tty && pending) stream.write("\r\x1b[2K");
    pending = false;
  };
  return {
    step(text) {
      if (quiet) return;
      clear();
      current = text;
      stream.write(`• ${text}\n`);
    },
    update(text) {
      if (quiet) return;
      if (tty) {
        stream.write(`\r\x1b[2K  ${current}: ${text}`);
        pending = true;
      } else if (Date.now() - lastPlain > 10_000) {
        lastPlain = Date.now();
        stream.write(`  ${current}: ${text}\n`);
      }
    },
    info(text) {
      if (quiet) return;
      clear();
      stream.write(`  ${text}\n`);
    },
    done() {
      clear();
    },
  };
}
