// Progress on stderr: on a terminal, a bar for runs longer than a second; elsewhere (logs, CI,
// pipes) one line per finished row instead, so a long run shows it is alive and what it has
// found, and the table on stdout stays clean.
import cliProgress from "cli-progress";

export interface ProgressOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** The bar appears only once the run has lasted this long (ms). */
  delayMs?: number;
  now?: () => number;
}

export class Progress {
  readonly #total: number;
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #delayMs: number;
  readonly #now: () => number;
  readonly #start: number;
  #done = 0;
  #bar: cliProgress.SingleBar | null = null;

  constructor(total: number, options: ProgressOptions = {}) {
    this.#total = total;
    this.#stream = options.stream ?? process.stderr;
    this.#delayMs = options.delayMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** Whether a bar is on screen. */
  get visible(): boolean {
    return this.#bar !== null;
  }

  /** Announces the step about to run (shown once the bar is up). */
  step(label: string): void {
    this.#show(label);
    this.#bar?.update(this.#done, { label });
  }

  /** One step finished. */
  tick(): void {
    this.#done++;
    this.#bar?.update(this.#done);
  }

  /** A row is finished: its line goes to the stream when no bar can be drawn there. */
  done(line: string): void {
    if (this.#stream.isTTY !== true) this.#stream.write(line + "\n");
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = null;
  }

  #show(label: string): void {
    if (this.#bar || this.#stream.isTTY !== true || this.#now() - this.#start < this.#delayMs) return;
    this.#bar = new cliProgress.SingleBar(
      {
        stream: this.#stream,
        format: "compare [{bar}] {value}/{total} {label}",
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(this.#total, this.#done, { label });
  }
}
