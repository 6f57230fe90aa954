// Notices when the store files change on disk. Kubernetes updates a mounted secret by writing a
// new timestamped folder and swapping the `..data` symlink, so the files' folders are watched as
// well as the files (a file watch follows the old inode and goes quiet after a rename).
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface StoreWatcher {
  close(): void;
}

export function watchStores(files: readonly string[], debounceMs: number, onChange: () => void): StoreWatcher {
  const names = new Set(files.map((f) => basename(f)));
  const dirWatchers: FSWatcher[] = [];
  let fileWatchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const trigger = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      armFiles(); // the files may be new inodes now
      onChange();
    }, debounceMs);
  };

  const tryWatch = (path: string, listener: (event: string, name: string | null) => void): FSWatcher | undefined => {
    try {
      const w = watch(path, { persistent: false }, listener);
      w.on('error', () => w.close()); // a vanished path; the folder watch still reports its return
      return w;
    } catch {
      return undefined; // missing right now (mid-rotation): the folder watch covers it
    }
  };

  function armFiles(): void {
    for (const w of fileWatchers) w.close();
    fileWatchers = files.map((f) => tryWatch(f, trigger)).filter((w): w is FSWatcher => w !== undefined);
  }

  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const w = tryWatch(dir, (_event, name) => {
      // Only the stores themselves or Kubernetes' ..data / ..timestamp entries matter.
      if (name === null || names.has(name) || name.startsWith('..')) trigger();
    });
    if (w) dirWatchers.push(w);
  }
  armFiles();

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of [...dirWatchers, ...fileWatchers]) w.close();
    },
  };
}
