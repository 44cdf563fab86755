/** Questions asked on the terminal: a yes/no confirmation and a value typed without echo (secrets). */

/** Reads one line typed on the TTY without echoing it; undefined when the user cancels (Ctrl-C / Ctrl-D). */
export function promptHidden(question: string): Promise<string | undefined> {
  const stdin = process.stdin;
  // Echo is off before the question shows, so keys typed as soon as it appears are not echoed either.
  stdin.setRawMode(true);
  process.stderr.write(question);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((resolve) => {
    let value = "";
    const finish = (result: string | undefined) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return finish(value);
        if (ch === "\u0003" || (ch === "\u0004" && value === "")) return finish(undefined);
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " " || ch === "\t") value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** Asks a yes/no question on the TTY; only "y"/"yes" is a yes. */
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  const answer = await new Promise<string>((r) => process.stdin.once("data", (d) => r(String(d).trim())));
  process.stdin.pause();
  return /^y(es)?$/i.test(answer);
}
