import cliProgress from 'cli-progress';
import { effects } from '../effects.js';

/**
 * A progress bar on stderr when it is a terminal (cli-progress draws and clears it); nothing at all on CI or
 * when piped, so logs stay clean.
 */
export interface Progress {
  update: (done: number, total: number) => void;
  stop: () => void;
}

export function progressBar(label: string, enabled: boolean, unit = 'runs'): Progress {
  if (!enabled || !effects.isTTY('stderr') || process.env['CI']) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} ${unit}, ETA {eta_formatted}`, stream: process.stderr, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
